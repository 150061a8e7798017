#include "engine/run/run_recorder.hpp"

#include <nlohmann/json.hpp>

#include "llmops/artifacts.hpp"

namespace llmops::engine {

bool RunRecorder::write(const char* what, const std::function<Status()>& op) {
  if (failed()) return false;
  Status s = before_write(what);
  if (s.is_ok()) s = op();
  if (!s.is_ok()) {
    error_ = Status(s.code(), std::string("store: ") + what + ": " + s.message());
    round_.reset();  // nothing of this round is kept
  }
  return s.is_ok();
}

void RunRecorder::begin_round() {
  if (failed() || round_) return;
  if (auto b = store_.batch()) round_.emplace(std::move(b.value()));
}

Status RunRecorder::commit_round() {
  if (!round_) return error_;
  write("commit", [&] {
    Status c = round_->commit();
    round_.reset();
    return c;
  });
  return error_;
}

Status RunRecorder::fail_interrupted(const std::vector<int64_t>& keep) {
  write("interrupted attempts", [&]() -> Status {
    auto n = store_.fail_interrupted(run_id_, keep);
    return n ? Status::ok() : n.status();
  });
  return error_;
}

Status RunRecorder::run_state(store::State state, const std::string& error) {
  write("run state", [&] { return store_.set_run_state(run_id_, state, error); });
  return error_;
}

void RunRecorder::step_state(const std::string& step, store::State state,
                             const std::string& reason) {
  write("step state", [&] { return store_.set_step_state(run_id_, step, state, reason); });
}

Result<int64_t> RunRecorder::begin_attempt(const std::string& step, int attempt,
                                           const std::string& plugin_id,
                                           const std::string& plugin_version,
                                           const std::string& plugin_digest,
                                           const std::string& cache_key,
                                           const std::string& log_path) {
  int64_t id = 0;
  const bool ok = write("begin execution", [&]() -> Status {
    auto r = store_.begin_execution(run_id_, step, attempt, plugin_id, plugin_version,
                                    plugin_digest, cache_key, log_path);
    if (!r) return r.status();
    id = r.value();
    return Status::ok();
  });
  if (!ok) return error_;
  return id;
}

void RunRecorder::external_id(int64_t execution_id, const std::string& external_id) {
  write("external id", [&] { return store_.set_execution_external_id(execution_id, external_id); });
}

void RunRecorder::finish_attempt(int64_t execution_id, const store::ExecutionResult& result) {
  write("finish execution", [&] { return store_.finish_execution(execution_id, result); });
}

void RunRecorder::deployment(int64_t execution_id, const store::Event& ev) {
  auto m = nlohmann::json::parse(ev.artifact.metadata_json, nullptr, false);
  if (!m.is_object() || !m.contains(llmops::deployment::kName)) return;
  store::DeploymentRecord d;
  d.name = m.value(llmops::deployment::kName, "");
  d.action = m.value(llmops::deployment::kAction, llmops::deployment::kStart);
  d.artifact_digest = m.value(llmops::deployment::kModelDigest, "");
  d.state = "running";
  d.endpoint = m.value(llmops::deployment::kEndpoint, "");
  d.info_json = m.dump();
  d.run_id = run_id_;
  d.execution_id = execution_id;
  write("deployment", [&] {
    if (store_.record_deployment(d).is_ok()) return Status::ok();
    d.artifact_digest.clear();  // a model the store does not know: keep the record anyway
    return store_.record_deployment(d);
  });
}

}  // namespace llmops::engine
