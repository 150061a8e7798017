// The worker side of the subprocess executor: `llmops exec-step` (and each child of the fork
// server) runs one attempt from its request file and reports on the protocol descriptor.
#include "engine/exec/step_worker.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>

#include "engine/exec/step_context.hpp"
#include "engine/plugins/plugin_host.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

std::atomic<bool> g_worker_cancel{false};
void on_worker_term(int) {
  g_worker_cancel.store(true);
}

}  // namespace

void write_protocol_line(int fd, const nlohmann::json& j) {
  // Text from plugins (logs, errors, a program's stderr) may not be valid UTF-8: replace what
  // is not rather than throw.
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= size_t(n);
  }
}

LogLevel protocol_level(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

const char* protocol_level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

nlohmann::json request_to_json(const StepRequest& r) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& in : r.inputs)
    inputs.push_back({{"name", in.name},
                      {"path", in.path.string()},
                      {"digest", in.digest},
                      {"kind", in.kind},
                      {"metadata", in.metadata_json}});
  return {{"run_id", r.run_id},
          {"step", r.step},
          {"attempt", r.attempt},
          {"plugin", {{"id", r.plugin.id}, {"path", r.plugin.path}}},
          {"params", r.params},
          {"inputs", inputs},
          {"work_dir", r.work_dir.string()},
          {"log_path", r.log_path.string()},
          {"memory_limit", r.memory_limit}};
}

StepRequest request_from_json(const nlohmann::json& j) {
  StepRequest r;
  r.run_id = j.at("run_id").get<int64_t>();
  r.step = j.at("step").get<std::string>();
  r.attempt = j.at("attempt").get<int>();
  r.plugin.id = j.at("plugin").at("id").get<std::string>();
  r.plugin.path = j.at("plugin").at("path").get<std::string>();
  r.params = j.at("params");
  for (const auto& in : j.at("inputs"))
    r.inputs.push_back({in.at("name").get<std::string>(), in.at("path").get<std::string>(),
                        in.at("digest").get<std::string>(), in.at("kind").get<std::string>(),
                        in.at("metadata").get<std::string>()});
  r.work_dir = j.at("work_dir").get<std::string>();
  r.log_path = j.at("log_path").get<std::string>();
  r.memory_limit = j.value("memory_limit", int64_t(0));
  return r;
}

void apply_protocol_line(const nlohmann::json& j, const StepRequest& request, StepResult& result,
                         bool* got_result) {
  const std::string type = j.value("type", "");
  if (type == "progress" && request.on_progress) {
    request.on_progress(j.value("done", 0.0), j.value("total", 0.0), j.value("note", ""));
  } else if (type == "log" && request.on_log) {
    request.on_log(protocol_level(j.value("level", "info")), j.value("message", ""));
  } else if (type == "result") {
    *got_result = true;
    const bool ok = j.value("ok", false);
    // The failure's kind matters to the scheduler: bad input and permanent failures are not
    // retried. An older worker sends no code: internal.
    const auto code = j.value("code", std::string());
    const StatusCode sc = code == "invalid_input" ? StatusCode::kInvalidArgument
                          : code == "permanent"   ? StatusCode::kFailedPrecondition
                          : code == "retryable"   ? StatusCode::kUnavailable
                                                  : StatusCode::kInternal;
    result.status = ok ? Status::ok() : Status(sc, j.value("error", "failed"));
    for (const auto& o : j.value("outputs", nlohmann::json::array()))
      result.outputs.push_back({o.value("name", ""), o.value("kind", "file"), o.value("path", ""),
                                o.value("metadata", "{}")});
    for (const auto& m : j.value("metrics", nlohmann::json::array()))
      result.metrics.push_back({m.value("name", ""), m.value("value", 0.0),
                                m.value("step", int64_t(-1)), m.value("time", 0.0)});
    for (const auto& t : j.value("triggers", nlohmann::json::array()))
      result.triggers.push_back(
          {t.value("kind", ""), t.value("reason", ""), t.value("payload", "{}"), ""});
  }
}

int exec_step_main(const fs::path& request_file, int protocol_fd) {
  std::ifstream in(request_file);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) {
    write_protocol_line(protocol_fd,
                        {{"type", "result"}, {"ok", false}, {"error", "bad request file"}});
    return 2;
  }
  StepRequest req;
  try {
    req = request_from_json(j);
  } catch (const std::exception& e) {
    write_protocol_line(protocol_fd, {{"type", "result"}, {"ok", false}, {"error", e.what()}});
    return 2;
  }
  if (req.memory_limit > 0) {
    // Address-space limit: an allocation past it fails in the plugin instead of swapping the host.
    struct rlimit rl {
      rlim_t(req.memory_limit), rlim_t(req.memory_limit)
    };
    setrlimit(RLIMIT_AS, &rl);
  }
  struct sigaction sa {};
  sa.sa_handler = on_worker_term;
  sigaction(SIGTERM, &sa, nullptr);
  req.cancel = std::shared_ptr<std::atomic<bool>>(&g_worker_cancel, [](std::atomic<bool>*) {});
  req.on_progress = [protocol_fd](double d, double t, const std::string& note) {
    write_protocol_line(protocol_fd,
                        {{"type", "progress"}, {"done", d}, {"total", t}, {"note", note}});
  };
  req.on_log = [protocol_fd](LogLevel l, const std::string& m) {
    write_protocol_line(protocol_fd,
                        {{"type", "log"}, {"level", protocol_level_name(l)}, {"message", m}});
  };
  PluginHost host;
  auto info = host.load(req.plugin.path);
  if (!info) {
    write_protocol_line(protocol_fd,
                        {{"type", "result"}, {"ok", false}, {"error", info.status().message()}});
    return 1;
  }
  auto plugin = host.create(info.value());
  if (!plugin) {
    write_protocol_line(protocol_fd,
                        {{"type", "result"}, {"ok", false}, {"error", plugin.status().message()}});
    return 1;
  }
  req.plugin = info.value();
  StepResult r = run_plugin(*plugin.value(), req);
  nlohmann::json out = {{"type", "result"},
                        {"ok", r.status.is_ok()},
                        {"error", r.status.message()},
                        {"code", r.status.code() == StatusCode::kInvalidArgument ? "invalid_input"
                                 : r.status.code() == StatusCode::kFailedPrecondition ? "permanent"
                                 : r.status.code() == StatusCode::kUnavailable        ? "retryable"
                                                                                      : "internal"},
                        {"outputs", nlohmann::json::array()},
                        {"metrics", nlohmann::json::array()},
                        {"triggers", nlohmann::json::array()}};
  for (const auto& o : r.outputs)
    out["outputs"].push_back({{"name", o.name},
                              {"kind", o.kind},
                              {"path", o.path.string()},
                              {"metadata", o.metadata_json}});
  for (const auto& m : r.metrics)
    out["metrics"].push_back(
        {{"name", m.name}, {"value", m.value}, {"step", m.step}, {"time", m.time}});
  for (const auto& t : r.triggers)
    out["triggers"].push_back(
        {{"kind", t.kind}, {"reason", t.reason}, {"payload", t.payload_json}});
  write_protocol_line(protocol_fd, out);
  plugin.value().reset();
  return r.status.is_ok() ? 0 : 1;
}

}  // namespace llmops::engine
