// FakeWorld: a fake Clock and a fake Executor in one, for driving the RunLoop without threads or
// sleeps (ninja's FakeCommandRunner is the model). An attempt "runs" for the time its Script
// gives; wait() moves the clock to the next completion or the loop's deadline and delivers what
// is due. Outputs are real files in the attempt's work folder, so sealing and lineage are real.
#pragma once

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/exec/executor.hpp"
#include "engine/plugins/plugin_info.hpp"
#include "engine/run/clock.hpp"
#include "tests/common/list_catalog.hpp"

namespace llmops::testing {

// What one attempt does.
struct Script {
  double seconds = 1;  // how long it runs
  bool ok = true;      // succeeds, or fails with `error`
  std::string error = "boom";
  bool honours_cancel = true;  // stops 0.5 s after a cancel; otherwise runs on
  std::string trigger;         // a trigger kind to raise (when ok)
};

// Scripts for the common cases.
inline Script fails(std::string error) {
  Script s;
  s.ok = false;
  s.error = std::move(error);
  return s;
}
inline Script lasts(double seconds, bool honours_cancel = true) {
  Script s;
  s.seconds = seconds;
  s.honours_cancel = honours_cancel;
  return s;
}

class FakeWorld : public engine::Clock, public engine::Executor {
 public:
  double now() override { return now_; }

  void wait(engine::CompletionQueue& queue, double until, bool busy) override {
    if (++waits_ > 100000) throw std::runtime_error("FakeWorld: the loop does not end");
    double next = until;
    for (const auto& p : pending_) next = std::min(next, p.at);
    now_ = std::max(now_, next);
    deliver_due();
  }

  Result<std::string> submit(uint64_t token, std::shared_ptr<engine::StepRequest> request,
                             std::shared_ptr<engine::CompletionSink> sink) override {
    const std::string key = request->step + "#" + std::to_string(request->attempt);
    submitted.push_back(key);
    submit_times[key] = now_;
    if (on_submit) on_submit(*request);
    Script s = script(request->step, request->attempt);
    pending_.push_back({token, request, now_ + s.seconds, s, std::move(sink), false});
    in_flight_max = std::max(in_flight_max, int(pending_.size()));
    return external_ids ? "fake-" + key : std::string();
  }

  // Attempts "still running" out there since an earlier engine, by external id.
  Status reattach(uint64_t token, std::shared_ptr<engine::StepRequest> request,
                  const std::string& external_id,
                  std::shared_ptr<engine::CompletionSink> sink) override {
    auto it = out_there.find(external_id);
    if (it == out_there.end()) return Status::not_found("no job " + external_id);
    reattached.push_back(external_id);
    pending_.push_back(
        {token, request, now_ + it->second.seconds, it->second, std::move(sink), false});
    return Status::ok();
  }

  void cancel(uint64_t token, engine::StepRequest& request) override {
    request.cancel->store(true);
    cancels.push_back(request.step);
    for (auto& p : pending_)
      if (p.token == token && p.script.honours_cancel) {
        p.cancelled = true;
        p.at = std::min(p.at, now_ + 0.5);
      }
  }

  void abandon(uint64_t token) override {
    for (const auto& p : pending_)
      if (p.token == token) abandoned.push_back(p.request->step);
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const Pending& p) { return p.token == token; }),
                   pending_.end());
  }

  // The script of (step, attempt): set by the test, else a 1 s success.
  std::map<std::string, Script> scripts;  // "step#attempt" or "step" (every attempt)
  Script script(const std::string& step, int attempt) const {
    if (auto it = scripts.find(step + "#" + std::to_string(attempt)); it != scripts.end())
      return it->second;
    if (auto it = scripts.find(step); it != scripts.end()) return it->second;
    return {};
  }

  bool external_ids = false;                // submit() gives "fake-STEP#ATTEMPT"
  std::map<std::string, Script> out_there;  // external id -> what is left of it
  std::vector<std::string> reattached;
  std::vector<std::string> submitted;          // "step#attempt", in order
  std::map<std::string, double> submit_times;  // "step#attempt" -> clock
  std::vector<std::string> cancels, abandoned;
  int in_flight_max = 0;
  std::function<void(const engine::StepRequest&)> on_submit;

 private:
  struct Pending {
    uint64_t token;
    std::shared_ptr<engine::StepRequest> request;
    double at;
    Script script;
    std::shared_ptr<engine::CompletionSink> sink;
    bool cancelled;
  };

  void deliver_due() {
    std::vector<Pending> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->at <= now_) {
        due.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    for (auto& p : due) {
      engine::Completion c;
      c.token = p.token;
      c.work_dir = p.request->work_dir;
      if (p.cancelled) {
        c.result.status = Status(StatusCode::kCancelled, "stopped on request");
      } else if (!p.script.ok) {
        c.result.status = Status::internal(p.script.error);
      } else {
        // One real output file, its content naming the step and attempt.
        const auto path = p.request->work_dir / "outputs" / "out";
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path) << p.request->step << " attempt " << p.request->attempt << "\n";
        c.result.outputs.push_back({"out", "file", path, "{}"});
        c.result.metrics.push_back({"seconds", p.script.seconds, -1, now_});
        if (!p.script.trigger.empty())
          c.result.triggers.push_back({p.script.trigger, "fake", "{}", ""});
      }
      p.sink->complete(std::move(c));
    }
  }

  double now_ = 1000;
  int waits_ = 0;
  std::vector<Pending> pending_;
};

// Plugins the plans resolve against; nothing is ever loaded.
class FakeCatalog : public ListCatalog {
 public:
  FakeCatalog() {
    for (const char* name : {"noop", "write"}) {
      engine::PluginInfo p;
      p.id = std::string("testing/") + name;
      p.kind = "testing";
      p.name = name;
      p.version = "1.0.0";
      p.executor = "inprocess";
      p.digest = "sha256:fake";
      add(p);
    }
  }
};

}  // namespace llmops::testing
