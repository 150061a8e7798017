// monitor/drift: compares a window of a deployment's logged traffic with the training data and
// raises "drift", "quality" or "latency" triggers when documented thresholds are crossed. Can first
// replay a chat dataset against the deployment (demo and tests). Writes `report` (report.json,
// report.md) and `production` (data.jsonl: logged traffic as chat conversations plus reviewed
// corrections), for the pipeline's feedback block to re-enter curation with. See docs/monitor.md.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "analyze.hpp"
#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"
#include "plugins/common/http_client.hpp"
#include "traffic.hpp"
#ifdef LLMOPS_MONITOR_HAVE_LM
#include "perplexity.hpp"
#endif

namespace fs = std::filesystem;
using json = nlohmann::json;
using llmops::Status;
namespace mon = llmops::monitor;
namespace dep_key = llmops::deployment;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return in ? json::parse(in, nullptr, false) : json();
}

// Sends every user turn of the replay conversations (with the history before it) to the
// deployment; returns how many requests were answered with any HTTP status.
llmops::Result<int64_t> replay(llmops::StepContext& ctx, const fs::path& data, const json& dep) {
  const auto host = dep.value(dep_key::kHost, std::string("127.0.0.1"));
  const auto port = static_cast<uint16_t>(dep.value(dep_key::kPort, 0));
  if (port == 0) return Status::invalid("replay: the deployment has no port");
  const auto limit = ctx.param_int("replay_limit", 200);
  const auto max_tokens = ctx.param_int("replay_max_tokens", 64);
  llmops::common::Headers headers = {{"Content-Type", "application/json"}};
  if (const char* tok = std::getenv(ctx.param_string("token_env", "LLMOPS_SERVE_TOKEN").c_str());
      tok && *tok)
    headers.emplace_back("Authorization", std::string("Bearer ") + tok);
  llmops::common::HttpClient client(host, port, ctx.param_double("replay_timeout", 60));
  int64_t sent = 0, failed = 0;
  for (const auto& f : mon::jsonl_files(data)) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line) && sent < limit) {
      if (ctx.cancelled()) return Status::cancelled("cancelled during replay");
      json conv = json::parse(line, nullptr, false);
      if (!conv.is_object() || !conv.contains("messages") || !conv["messages"].is_array()) continue;
      json history = json::array();
      for (const auto& m : conv["messages"]) {
        if (!m.is_object()) break;
        if (m.value("role", "") == "user" && sent < limit) {
          json body = {{"model", dep.value(dep_key::kName, std::string("default"))},
                       {"messages", history},
                       {"max_tokens", max_tokens},
                       {"temperature", 0}};
          body["messages"].push_back({{"role", "user"}, {"content", m.value("content", json(""))}});
          if (conv.contains("tools") && conv["tools"].is_array()) body["tools"] = conv["tools"];
          auto r =
              client.request("POST", "/v1/chat/completions",
                             body.dump(-1, ' ', false, json::error_handler_t::replace), headers);
          ++sent;
          if (!r) ++failed;
          ctx.progress(static_cast<double>(sent), static_cast<double>(limit), "replay");
        }
        history.push_back(m);
      }
    }
  }
  ctx.info("replayed " + std::to_string(sent) + " request(s), " + std::to_string(failed) +
           " without a response");
  return sent - failed;
}

mon::Thresholds thresholds(const llmops::StepContext& ctx) {
  mon::Thresholds t;
  t.top_k = static_cast<size_t>(ctx.param_int("top_k", static_cast<int64_t>(t.top_k)));
  t.psi = ctx.param_double("psi", t.psi);
  t.js = ctx.param_double("js", t.js);
  t.oov = ctx.param_double("oov", t.oov);
  t.oov_min_words = ctx.param_int("oov_min_words", t.oov_min_words);
  t.unknown_intent = ctx.param_double("unknown_intent", t.unknown_intent);
  t.novelty = ctx.param_double("novelty", t.novelty);
  t.tool_call_invalid = ctx.param_double("tool_call_invalid", t.tool_call_invalid);
  t.refusal_increase = ctx.param_double("refusal_increase", t.refusal_increase);
  t.response_length_ratio = ctx.param_double("response_length_ratio", t.response_length_ratio);
  t.perplexity_ratio = ctx.param_double("perplexity_ratio", t.perplexity_ratio);
  t.latency_p99_ms = ctx.param_double("latency_p99_ms", t.latency_p99_ms);
  t.error_rate = ctx.param_double("error_rate", t.error_rate);
  t.negative_feedback = ctx.param_double("negative_feedback", t.negative_feedback);
  t.min_requests = ctx.param_int("min_requests", t.min_requests);
  return t;
}

class Drift : public llmops::Plugin {
 public:
  Status run(llmops::StepContext& ctx) override {
    try {
      return run_impl(ctx);
    } catch (const std::exception& e) {
      return Status::internal(std::string("monitor/drift: ") + e.what());
    }
  }

 private:
  // A monitoring pipeline that watches `${{ deployments.NAME.deployment }}` before anything is
  // deployed: there is no traffic to judge, which is not a failure.
  static Status nothing_to_monitor(llmops::StepContext& ctx) {
    const json report = {{"version", 1},
                         {"drift", false},
                         {"triggers", json::array()},
                         {"reasons", json::array()},
                         {"requests", 0},
                         {"note", "no deployment and no request log: nothing to monitor"}};
    const auto report_dir = ctx.output("report", llmops::artifact_kind::kReport);
    std::ofstream(report_dir / "report.json") << report.dump(2) << "\n";
    std::ofstream(report_dir / "report.md")
        << "# Monitor report\n\nNo deployment and no request log were given: nothing to "
           "monitor.\n";
    const auto prod_dir = ctx.output("production", llmops::artifact_kind::kDataset);
    std::ofstream(prod_dir / "data.jsonl");
    ctx.set_output_metadata(
        "production", json{{"source", "production"}, {"logged", 0}, {"corrections", 0}}.dump());
    ctx.set_output_metadata("report", json{{"drift", false}, {"requests", 0}}.dump());
    ctx.metric("requests", 0);
    ctx.info("no deployment to monitor");
    return Status::ok();
  }

  Status run_impl(llmops::StepContext& ctx) {
    if (!ctx.input("deployment") && !ctx.input("requests")) return nothing_to_monitor(ctx);
    json dep = json::object(), context = json::object();
    if (auto d = ctx.input("deployment")) {
      dep = read_json(fs::is_directory(d->path) ? d->path / dep_key::kFileName : d->path);
      if (!dep.is_object()) return Status::invalid("deployment: cannot read deployment.json");
      context["deployment"] = dep;
    }
    fs::path log_path;
    if (auto r = ctx.input("requests"))
      log_path = r->path;
    else if (dep.contains(dep_key::kRequestLog) && dep[dep_key::kRequestLog].is_string())
      log_path = dep[dep_key::kRequestLog].get<std::string>();
    if (log_path.empty())
      return Status::invalid(
          "monitor/drift needs input `requests` or a `deployment` with a request_log");
    auto ref_in = ctx.input("reference");
    if (!ref_in)
      return Status::invalid("monitor/drift needs input `reference` (the training data)");

    // A monitor that drives a replay judges that replay: the log may also hold earlier runs'
    // replays against a deployment with the same version label.
    const double since = ctx.param_double("since", 0);
    double started = 0;
    int64_t replayed = -1;
    if (auto rp = ctx.input("replay")) {
      started = unix_now();
      auto n = replay(ctx, rp->path, dep);
      if (!n) return n.status();
      replayed = *n;
      context["replayed"] = replayed;
      context["replay_started"] = started;
    }
    std::string version = ctx.param_string("version", "");
    if (version.empty() && ctx.param_bool("current_version_only", true))
      version = dep.value(dep_key::kVersion, std::string());

    auto log = mon::read_request_log(log_path);
    auto select = [&] {
      return mon::select_replay_window(log->requests, version, since, started, replayed,
                                       ctx.param_int("window", 0));
    };
    mon::ReplayWindow picked = log ? select() : mon::ReplayWindow{};
    // The server appends a record once its response is out: give the last ones a moment.
    auto short_of_replay = [&] {
      return picked.fell_back || static_cast<int64_t>(picked.requests.size()) < picked.expected;
    };
    for (int i = 0; i < 20 && log && short_of_replay(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      log = mon::read_request_log(log_path);
      if (log) picked = select();
    }
    if (!log) return log.status();
    if (picked.fell_back)
      ctx.warn("fewer than the " + std::to_string(picked.expected) +
               " replayed requests are logged after the replay started (a lagging server "
               "clock?); judging the newest " +
               std::to_string(picked.requests.size()) + " of the version");
    const auto& window = picked.requests;
    context["request_log"] = log_path.string();
    context["version"] = version;
    context["logged_requests"] = log->requests.size();
    context["skipped_log_lines"] = log->skipped_lines;

    auto ref = mon::read_reference(ref_in->path, ctx.param_int("reference_limit", 0));
    if (!ref) return ref.status();
    const auto profile = mon::build_profile(ref->samples);
    context["reference_prompts"] = profile.prompts;

    mon::ModelSignals signals;
    if (auto er = ctx.input("eval_report")) {
      const auto j = read_json(fs::is_directory(er->path) ? er->path / "report.json" : er->path);
      if (j.is_object() && j.contains("candidate") &&
          j["candidate"].value("metrics", json::object()).contains("perplexity"))
        signals.eval_perplexity = j["candidate"]["metrics"]["perplexity"].get<double>();
    }
    if (auto m = ctx.input("model")) {
#ifdef LLMOPS_MONITOR_HAVE_LM
      std::vector<std::string> live, refp;
      for (const auto& r : window)
        if (!r.prompt.empty()) live.push_back(r.prompt);
      for (const auto& s : ref->samples) refp.push_back(s.prompt);
      fs::path tok;
      if (auto t = ctx.input("tokenizer")) tok = t->path;
      auto p = mon::prompt_perplexity(m->path, tok, live, refp,
                                      static_cast<size_t>(ctx.param_int("perplexity_samples", 64)));
      if (!p) return p.status();
      if (p->live_prompts > 0) signals.live_perplexity = p->live;
      if (p->reference_prompts > 0) signals.reference_perplexity = p->reference;
#else
      ctx.warn("input `model` given but this build has no plugins/lm: perplexity skipped");
#endif
    }

    const auto t = thresholds(ctx);
    const auto a = mon::analyze(profile, window, log->feedback, t, signals);

    const auto report_dir = ctx.output("report", llmops::artifact_kind::kReport);
    std::ofstream(report_dir / "report.json") << mon::report_json(a, t, context).dump(2) << "\n";
    std::ofstream(report_dir / "report.md") << mon::report_markdown(a, t, context);

    std::optional<fs::path> corrections;
    if (auto c = ctx.input("corrections")) corrections = c->path;
    const auto prod_dir = ctx.output("production", llmops::artifact_kind::kDataset);
    auto ps = mon::write_production(window, corrections, prod_dir / "data.jsonl");
    if (!ps) return ps.status();
    ctx.set_output_metadata("production", json{{"source", "production"},
                                               {"logged", ps->logged},
                                               {"corrections", ps->corrections},
                                               {"replaced", ps->replaced}}
                                              .dump());

    for (auto it = a.values.begin(); it != a.values.end(); ++it)
      if (it->is_number()) ctx.metric(it.key(), it->get<double>());
    json reasons = json::array();
    for (const auto& f : a.findings) reasons.push_back(f.reason);
    ctx.set_output_metadata("report", json{{"drift", !a.findings.empty()},
                                           {"triggers", a.triggers()},
                                           {"reasons", reasons},
                                           {"requests", a.requests}}
                                          .dump());
    for (const auto& kind : a.triggers()) {
      const auto payload = a.payload(kind);
      std::string reason;
      for (const auto& r : payload["reasons"])
        reason += (reason.empty() ? "" : "; ") + r.get<std::string>();
      ctx.warn(kind + ": " + reason);
      ctx.trigger(kind, reason, payload.dump());
    }
    ctx.info("monitored " + std::to_string(a.requests) + " request(s): " +
             (a.findings.empty() ? std::string("no threshold crossed")
                                 : std::to_string(a.findings.size()) + " finding(s)"));
    return Status::ok();
  }
};

}  // namespace

constexpr char kParams[] = R"JSON({"type":"object","additionalProperties":false,"properties":{
  "window":{"type":"integer","minimum":0,"default":0,"description":"Last N requests (0: all)"},
  "since":{"type":"number","default":0,"description":"Only requests at or after this unix time"},
  "version":{"type":"string","description":"Only this served version (default: the deployment's)"},
  "current_version_only":{"type":"boolean","default":true},
  "reference_limit":{"type":"integer","minimum":0,"default":0},
  "replay_limit":{"type":"integer","minimum":0,"default":200},
  "replay_max_tokens":{"type":"integer","minimum":1,"default":64},
  "replay_timeout":{"type":"number","default":60},
  "token_env":{"type":"string","default":"LLMOPS_SERVE_TOKEN"},
  "perplexity_samples":{"type":"integer","minimum":1,"default":64},
  "top_k":{"type":"integer","minimum":1,"default":100},
  "psi":{"type":"number","default":0.2},
  "js":{"type":"number","default":0.1},
  "oov":{"type":"number","default":0.1},
  "oov_min_words":{"type":"integer","minimum":1,"default":2},
  "unknown_intent":{"type":"number","default":0.1},
  "novelty":{"type":"number","default":0.34},
  "tool_call_invalid":{"type":"number","default":0.05},
  "refusal_increase":{"type":"number","default":0.15},
  "response_length_ratio":{"type":"number","default":2.0},
  "perplexity_ratio":{"type":"number","default":1.5},
  "latency_p99_ms":{"type":"number","default":5000},
  "error_rate":{"type":"number","default":0.05},
  "negative_feedback":{"type":"number","default":0.2},
  "min_requests":{"type":"integer","minimum":0,"default":20}}})JSON";

constexpr char kInputs[] = R"JSON([
  {"name":"deployment","kind":"deployment","required":false},
  {"name":"requests","kind":"any","required":false},
  {"name":"reference","kind":"dataset","required":false},
  {"name":"model","kind":"model","required":false},
  {"name":"tokenizer","kind":"tokenizer","required":false},
  {"name":"eval_report","kind":"report","required":false},
  {"name":"replay","kind":"dataset","required":false},
  {"name":"corrections","kind":"dataset","required":false}])JSON";

constexpr char kOutputs[] = R"JSON([{"name":"report","kind":"report"},
  {"name":"production","kind":"dataset"}])JSON";

LLMOPS_PLUGIN(Drift, "monitor", "drift", "1.1.0",
              "Input drift, output quality and SLOs of a deployment's traffic vs its training data",
              kParams, kInputs, kOutputs, "inprocess", llmops::kNotCacheable)
