// `llmops plugins check DIR`: the step-protocol conformance run for an executable plugin
// (docs/step-protocol.md). Each check prints ok or FAIL with what to fix; exit 0 when all pass.
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "base/command.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "engine/exec/step_context.hpp"
#include "engine/plugins/exec_manifest.hpp"
#include "engine/plugins/exec_plugin.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace llmops::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

// A small chat data set for dataset inputs the user did not give.
void write_sample_chat(const fs::path& file) {
  std::ofstream out(file, std::ios::binary);
  const char* asks[] = {
      "Add a task to water the plants tomorrow", "Create a task to call the dentist on Friday",
      "Remind me to send the report to the team", "Schedule a meeting with Ana next Monday at ten"};
  for (int i = 0; i < 20; ++i) {
    json m = json::array();
    m.push_back({{"role", "user"}, {"content", asks[i % 4]}});
    m.push_back(
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"type", "function"},
            {"function", {{"name", "create_task"}, {"arguments", R"({"title":"task"})"}}}}}}});
    m.push_back({{"role", "assistant"}, {"content", "Done: the task is created."}});
    out << json({{"messages", m}}).dump() << "\n";
  }
}

// A value the schema refuses for one of its properties, or nothing when it accepts anything.
std::optional<json> bad_params(const json& schema) {
  const auto props = schema.value("properties", json::object());
  for (const auto& [k, v] : props.items()) {
    const auto t = v.value("type", json());
    if (t == "integer" || t == "number") return json{{k, "not-a-number"}};
    if (t == "string") return json{{k, json::array({1, 2})}};
    if (t == "boolean") return json{{k, "maybe"}};
    if (t == "array") return json{{k, 7}};
    if (t == "object") return json{{k, 7}};
  }
  if (schema.contains("additionalProperties") && schema["additionalProperties"] == false)
    return json{{"llmops_check_unknown_parameter", 1}};
  return std::nullopt;
}

}  // namespace

int cmd_plugins_check(const PluginCheckArgs& a) {
  std::vector<Check> checks;
  auto add = [&](std::string name, bool ok, std::string detail = "") {
    checks.push_back({std::move(name), ok, std::move(detail)});
  };
  fs::path manifest = a.dir;
  if (fs::is_directory(manifest)) manifest /= engine::kManifestName;
  auto m = engine::read_exec_manifest(manifest);
  add("manifest is valid", m.is_ok(), m.is_ok() ? manifest.string() : m.status().message());
  json params = json::object();
  if (!a.params.empty()) {
    params = json::parse(a.params, nullptr, false);
    if (!params.is_object()) return fail("--params must be a JSON object, e.g. '{\"n\": 3}'");
  }
  std::string tmpl = (fs::temp_directory_path() / "llmops-check-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return fail("cannot create a temporary folder", kExitFailed);
  const fs::path tmp = tmpl;
  std::error_code ec;
  fs::create_directories(tmp / "sample", ec);

  if (m) {
    const auto helpers = engine::step_helpers_dir();
    // 1. Run by hand, without the engine: it must say how to use it and exit non-zero.
    {
      std::vector<std::string> argv = m->argv;
      if (argv[0].find('/') != std::string::npos && argv[0][0] != '/')
        argv[0] = (m->dir / argv[0]).string();
      const auto cwd = fs::current_path(ec);
      ::unsetenv("LLMOPS_STEP_REQUEST");
      ::unsetenv("LLMOPS_EVENTS_FD");
      ::unsetenv("LLMOPS_STEP_RESULT");
      std::string old_pp = std::getenv("PYTHONPATH") ? std::getenv("PYTHONPATH") : "";
      if (!helpers.empty())
        ::setenv("PYTHONPATH", (helpers.string() + (old_pp.empty() ? "" : ":" + old_pp)).c_str(),
                 1);
      fs::current_path(m->dir, ec);
      auto r = base::run_command(argv, 10);
      fs::current_path(cwd, ec);
      if (old_pp.empty())
        ::unsetenv("PYTHONPATH");
      else
        ::setenv("PYTHONPATH", old_pp.c_str(), 1);
      const std::string name = "run by hand, it prints how to use it and fails";
      if (!r) {
        add(name, false, r.status().message());
      } else {
        const std::string text = r->out + r->err;
        std::string lower = text;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const bool crashed =
            text.find("Traceback (most recent call last)") != std::string::npos || r->signal != 0;
        add(name,
            !r->timed_out && r->exit_code != 0 && !crashed &&
                lower.find("llmops") != std::string::npos,
            r->timed_out        ? "it did not exit within 10 s without a request"
            : r->exit_code == 0 ? "it exited 0 without a request: exit non-zero and print usage"
            : crashed           ? "it crashed instead of printing how to use it"
            : lower.find("llmops") == std::string::npos
                ? "its message does not say it is an llmops step: print how to run it"
                : "exit status " + std::to_string(r->exit_code));
      }
    }

    std::vector<Input> inputs;
    bool inputs_ok = true;
    for (const auto& port : m->info.inputs) {
      Input in;
      in.name = port.name;
      in.kind = port.kind == "any" ? "dataset" : port.kind;
      in.metadata_json = "{}";
      for (const auto& g : a.inputs)
        if (g.rfind(port.name + "=", 0) == 0)
          in.path = fs::absolute(g.substr(port.name.size() + 1));
      if (in.path.empty() && (port.kind == "dataset" || port.kind == "any")) {
        fs::create_directories(tmp / "sample" / port.name, ec);
        write_sample_chat(tmp / "sample" / port.name / "data.jsonl");
        in.path = tmp / "sample" / port.name;
      }
      if (in.path.empty()) {
        if (port.required) {
          add("inputs", false, "give --input " + port.name + "=PATH (kind " + port.kind + ")");
          inputs_ok = false;
        }
        continue;
      }
      inputs.push_back(in);
    }

    auto attempt = [&](const std::string& tag, const json& p, double cancel_after,
                       std::vector<std::string>* warnings,
                       double* cancel_to_end) -> engine::StepResult {
      engine::StepRequest req;
      req.run_id = 1;
      req.step = "check-" + tag;
      req.plugin = m->info;
      req.params = p;
      req.inputs = inputs;
      req.work_dir = tmp / tag;
      fs::create_directories(req.work_dir, ec);
      req.on_log = [warnings](LogLevel l, const std::string& msg) {
        if (warnings && l >= LogLevel::kWarn && msg.rfind("step protocol:", 0) == 0)
          warnings->push_back(msg);
      };
      auto plugin = engine::make_exec_plugin(*m);
      std::optional<Clock::time_point> cancelled_at;
      std::thread canceller;
      std::mutex mu;
      std::condition_variable cv;
      bool finished = false;
      if (cancel_after > 0)
        canceller = std::thread([&, c = req.cancel] {
          std::unique_lock lock(mu);
          if (cv.wait_for(lock, std::chrono::duration<double>(cancel_after),
                          [&] { return finished; }))
            return;  // it ended first
          cancelled_at = Clock::now();
          c->store(true);
        });
      auto res = engine::run_plugin(*plugin, req);
      const auto end = Clock::now();
      {
        std::lock_guard lock(mu);
        finished = true;
      }
      cv.notify_all();
      if (canceller.joinable()) canceller.join();
      if (cancel_to_end)
        *cancel_to_end = cancelled_at && *cancelled_at <= end
                             ? std::chrono::duration<double>(end - *cancelled_at).count()
                             : -1;
      return res;
    };

    if (inputs_ok) {
      // 2. A real run: hello, events that parse, a result, the declared outputs.
      std::vector<std::string> warnings;
      const auto t0 = Clock::now();
      double stopped_after = -1;
      auto res = attempt("run", params, a.timeout_s, &warnings, &stopped_after);
      const double took = std::chrono::duration<double>(Clock::now() - t0).count();
      add("it runs: hello, result ok, exit 0", res.status.is_ok(),
          res.status.is_ok() ? std::to_string(took).substr(0, 5) + " s, " +
                                   std::to_string(res.metrics.size()) + " metric(s)"
          : stopped_after >= 0
              ? "it did not finish within " + std::to_string(static_cast<int>(a.timeout_s)) +
                    " s (--timeout): " + res.status.message()
              : res.status.message());
      std::string bad;
      for (const auto& w : warnings) bad += (bad.empty() ? "" : "; ") + w;
      add("every event line parses", warnings.empty(), bad);
      if (res.status.is_ok()) {
        std::string missing;
        for (const auto& port : m->info.outputs) {
          bool found = false;
          for (const auto& o : res.outputs) found = found || o.name == port.name;
          if (!found) missing += (missing.empty() ? "" : ", ") + port.name;
        }
        add("declared outputs are produced", missing.empty(),
            missing.empty() ? "" : "not produced: " + missing);
      }
      // 3. A parameter its schema refuses: the program must answer invalid_input.
      if (auto bp = bad_params(m->info.params_schema)) {
        json p = params;
        p.update(*bp);
        auto r = attempt("bad-param", p, a.timeout_s, nullptr, nullptr);
        add("a bad parameter gives invalid_input", r.status.code() == StatusCode::kInvalidArgument,
            "with " + bp->dump() + ": " +
                (r.status.is_ok() ? std::string("it succeeded") : r.status.message()));
      }
      // 4. SIGTERM (cancellation) ends it within its grace period.
      double cancel_to_end = -1;
      auto c = attempt("cancel", params, std::min(0.3, took / 2), nullptr, &cancel_to_end);
      if (cancel_to_end < 0)
        add("SIGTERM ends it within the grace period", true,
            "it finished before the cancel; not exercised");
      else
        add("SIGTERM ends it within the grace period",
            c.status.message().find("s grace after SIGTERM: killed") == std::string::npos,
            "ended " + std::to_string(cancel_to_end).substr(0, 5) + " s after SIGTERM (grace " +
                std::to_string(static_cast<int>(m->grace_s)) + " s)" +
                (c.status.message().find("killed)") != std::string::npos
                     ? ": it ignored SIGTERM and was killed"
                     : ""));
    }
  }
  fs::remove_all(tmp, ec);

  bool all = true;
  for (const auto& c : checks) all = all && c.ok;
  if (a.json) {
    json j = json::array();
    for (const auto& c : checks)
      j.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    print_json({{"ok", all}, {"checks", j}});
  } else {
    for (const auto& c : checks)
      std::cout << (c.ok ? "  ok    " : "  FAIL  ") << c.name
                << (c.detail.empty() ? "" : ": " + c.detail) << "\n";
    std::cout << (all ? "conformant\n" : "not conformant\n");
  }
  return all ? kExitOk : kExitFailed;
}

}  // namespace llmops::cli
