#include "engine/exec/step_context.hpp"

#include <chrono>

#include <spdlog/sinks/basic_file_sink.h>

#include "base/time.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> open_step_logger(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), false);
  auto logger = std::make_shared<spdlog::logger>("step", std::move(sink));
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::debug);  // a killed engine must not lose the last lines
  return logger;
}

}  // namespace

void append_step_log(const fs::path& log_path, LogLevel level, const std::string& message) {
  try {
    open_step_logger(log_path)->log(to_spdlog(level), message);
  } catch (const std::exception&) {
    // Logging must never fail a step.
  }
}

StepContextImpl::StepContextImpl(const StepRequest& request) : req_(request) {}
StepContextImpl::~StepContextImpl() = default;

const nlohmann::json* StepContextImpl::find(const std::string& name) const {
  auto it = req_.params.find(name);
  if (it == req_.params.end() || it->is_null()) return nullptr;
  return &*it;
}

bool StepContextImpl::has_param(const std::string& name) const {
  return find(name) != nullptr;
}

std::string StepContextImpl::param_string(const std::string& name, const std::string& def) const {
  const auto* v = find(name);
  if (!v) return def;
  return v->is_string() ? v->get<std::string>() : v->dump();
}

int64_t StepContextImpl::param_int(const std::string& name, int64_t def) const {
  const auto* v = find(name);
  if (!v) return def;
  if (v->is_number()) return v->get<int64_t>();
  if (v->is_boolean()) return v->get<bool>() ? 1 : 0;
  if (v->is_string()) {
    try {
      return std::stoll(v->get<std::string>());
    } catch (...) {
    }
  }
  return def;
}

double StepContextImpl::param_double(const std::string& name, double def) const {
  const auto* v = find(name);
  if (!v) return def;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    try {
      return std::stod(v->get<std::string>());
    } catch (...) {
    }
  }
  return def;
}

bool StepContextImpl::param_bool(const std::string& name, bool def) const {
  const auto* v = find(name);
  if (!v) return def;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number()) return v->get<double>() != 0;
  if (v->is_string()) {
    const auto s = v->get<std::string>();
    if (s == "true" || s == "1" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "no") return false;
  }
  return def;
}

std::string StepContextImpl::param_json(const std::string& name) const {
  const auto* v = find(name);
  return v ? v->dump() : "null";
}

std::optional<Input> StepContextImpl::input(const std::string& name) const {
  for (const auto& in : req_.inputs)
    if (in.name == name) return in;
  return std::nullopt;
}

fs::path StepContextImpl::output(const std::string& name, const std::string& kind) {
  std::lock_guard lock(mu_);
  for (const auto& o : outputs_)
    if (o.name == name) return o.path;
  OutputDecl d;
  d.name = name;
  d.kind = kind.empty() ? "file" : kind;
  d.path = req_.work_dir / "outputs" / name;
  std::error_code ec;
  fs::remove_all(d.path, ec);  // a retried attempt starts from an empty folder
  fs::create_directories(d.path, ec);
  outputs_.push_back(d);
  return d.path;
}

void StepContextImpl::set_output_metadata(const std::string& name, const std::string& json) {
  std::lock_guard lock(mu_);
  for (auto& o : outputs_)
    if (o.name == name) o.metadata_json = json;
}

fs::path StepContextImpl::scratch_dir() {
  auto p = req_.work_dir / "scratch";
  std::error_code ec;
  fs::create_directories(p, ec);
  return p;
}

void StepContextImpl::metric(const std::string& name, double value, int64_t step) {
  std::lock_guard lock(mu_);
  metrics_.push_back({name, value, step, base::unix_now()});
}

void StepContextImpl::progress(double done, double total, const std::string& note) {
  if (req_.on_progress) req_.on_progress(done, total, note);
}

void StepContextImpl::log(LogLevel level, const std::string& message) {
  {
    std::lock_guard lock(mu_);
    try {
      if (!log_) log_ = open_step_logger(req_.log_path);
      log_->log(to_spdlog(level), message);
    } catch (const std::exception&) {
    }
  }
  if (req_.on_log) req_.on_log(level, message);
}

void StepContextImpl::trigger(const std::string& kind, const std::string& reason,
                              const std::string& payload_json) {
  std::lock_guard lock(mu_);
  triggers_.push_back({kind, reason, payload_json.empty() ? "{}" : payload_json, ""});
}

void StepContextImpl::collect(StepResult& result) {
  std::lock_guard lock(mu_);
  result.outputs = std::move(outputs_);
  result.metrics = std::move(metrics_);
  result.triggers = std::move(triggers_);
  if (log_) log_->flush();
  log_.reset();
}

StepResult run_plugin(Plugin& plugin, const StepRequest& request) {
  StepResult result;
  StepContextImpl ctx(request);
  try {
    result.status = plugin.run(ctx);
  } catch (const std::exception& e) {
    result.status = Status::internal(std::string("plugin threw: ") + e.what());
  } catch (...) {
    result.status = Status::internal("plugin threw an unknown exception");
  }
  ctx.collect(result);
  return result;
}

}  // namespace llmops::engine
