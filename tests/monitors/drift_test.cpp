// monitor/drift: the divergence math on hand-made distributions, the request-log reader, no drift
// on same-distribution traffic, drift on the production-shift scenario, and the plugin's triggers.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "analyze.hpp"
#include "monitor_test_util.hpp"
#include "stats.hpp"
#include "traffic.hpp"

using namespace llmops::monitor;
using namespace monitor_test;

TEST_CASE("PSI and Jensen-Shannon on known distributions", "[monitor][stats]") {
  const std::vector<double> p = {0.5, 0.5}, q = {0.9, 0.1};
  // (0.9-0.5) ln(1.8) + (0.1-0.5) ln(0.2)
  CHECK(psi(p, q) == Approx(0.4 * std::log(1.8) + 0.4 * std::log(5.0)));
  CHECK(psi(p, q) == Approx(0.87889).epsilon(1e-4));
  CHECK(psi(p, p) == 0);
  CHECK(psi(p, q) == Approx(psi(q, p)));  // symmetric
  CHECK(js_divergence(p, p) == 0);
  CHECK(js_divergence({1, 0}, {0, 1}) == Approx(1.0));
  // M = (0.75, 0.25): 0.5 KL(p||M) + 0.5 KL(q||M) in bits.
  CHECK(js_divergence({0.5, 0.5}, {1, 0}) == Approx(0.311278).epsilon(1e-5));
  // A zero bin is floored at epsilon for PSI: finite, and large.
  CHECK(std::isfinite(psi({1, 0}, {0.5, 0.5})));
  CHECK(psi({1, 0}, {0.5, 0.5}) > 2);
}

TEST_CASE("binning keeps the reference's top-k and an other bin", "[monitor][stats]") {
  Counts ref = {{"a", 6}, {"b", 3}, {"c", 1}};
  Counts cur = {{"a", 2}, {"z", 2}};
  CHECK(top_features(ref, 2) == std::vector<std::string>{"a", "b"});
  const auto q = binned(cur, top_features(ref, 2));
  REQUIRE(q.size() == 3);
  CHECK(q[0] == Approx(0.5));
  CHECK(q[1] == 0);
  CHECK(q[2] == Approx(0.5));
  const auto d = compare(ref, cur, 2);
  CHECK(d.other_share == Approx(0.5));
  CHECK(d.js > 0.1);
  CHECK(compare(ref, ref, 2).psi == 0);
}

TEST_CASE("words, n-grams and percentiles", "[monitor][stats]") {
  CHECK(words("Add \"Buy milk\" due 2024-06-03!") ==
        std::vector<std::string>{"add", "buy", "milk", "due", "<num>", "<num>", "<num>"});
  Counts u, b;
  add_ngrams({"a", "b", "a"}, u, b);
  CHECK(u["a"] == 2);
  CHECK(b["a b"] == 1);
  CHECK(b["b a"] == 1);
  CHECK(percentile({}, 99) == 0);
  CHECK(percentile({1, 2, 3, 4, 5}, 50) == 3);
  CHECK(percentile({10, 20}, 99) == Approx(19.9));
}

TEST_CASE("the request-log reader reads rotations, feedback and skips bad lines",
          "[monitor][log]") {
  TempDir t;
  write_file(
      t.path / "requests.jsonl.1",
      R"({"type":"completion","id":"a","time":10,"status":200,"latency_ms":12.5,"version":"v1","messages":[{"role":"system","content":"s"},{"role":"user","content":"list my tasks"}],"tool_calls":[{"id":"c","type":"function","function":{"name":"list_tasks","arguments":"{}"}}],"finish_reason":"tool_calls"})"
      "\n{not json\n");
  write_file(
      t.path / "requests.jsonl",
      R"({"type":"admin","action":"load","version":"v2"})"
      "\n"
      R"({"type":"completion","id":"b","time":20,"status":429,"latency_ms":1,"version":"v2","error":"busy","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})"
      "\n"
      R"({"type":"completion","id":"c","time":30,"status":200,"latency_ms":40,"version":"v2","prompt":"raw","output":"I'm sorry, I can't do that."})"
      "\n"
      R"({"type":"feedback","id":"c","time":31,"feedback":{"id":"c","score":-1,"comment":"bad"}})"
      "\n");
  auto log = read_request_log(t.path);
  REQUIRE(log);
  REQUIRE(log->requests.size() == 3);
  CHECK(log->skipped_lines == 1);
  CHECK(log->requests[0].id == "a");  // the rotated (older) file first
  CHECK(log->requests[0].prompt == "list my tasks");
  CHECK(tool_calls_valid(log->requests[0].tool_calls, log->requests[0].output));
  CHECK(log->requests[1].prompt == "hi");
  CHECK_FALSE(log->requests[1].ok());
  CHECK(log->requests[2].prompt == "raw");
  CHECK(looks_like_refusal(log->requests[2].output));
  CHECK(log->feedback.at("c") == -1);
  CHECK(select_window(log->requests, "v2", 0, 0).size() == 2);
  CHECK(select_window(log->requests, "", 25, 0).size() == 1);
  CHECK(select_window(log->requests, "", 0, 1).back().id == "c");
  CHECK_FALSE(read_request_log(t.path / "missing"));

  CHECK_FALSE(
      tool_calls_valid(json::array({{{"function", {{"name", "f"}, {"arguments", "{bad"}}}}}), ""));
  CHECK_FALSE(tool_calls_valid(json::array(), "<tool_call>{\"name\": oops"));
}

namespace {
std::vector<LoggedRequest> traffic(const std::string& scenario, uint64_t seed, int64_t n) {
  TempDir t;
  write_file(t.path / "requests.jsonl", as_request_log(synth(scenario, seed, n), "v1"));
  auto log = read_request_log(t.path);
  REQUIRE(log);
  return log->requests;
}

Profile reference_profile() {
  TempDir t;
  write_file(t.path / "data.jsonl", synth("base", 1, 1000));
  auto ref = read_reference(t.path);
  REQUIRE(ref);
  return build_profile(ref->samples);
}
}  // namespace

TEST_CASE("a replay's window: its own records, the last N, or the newest with a lagging clock",
          "[monitor][log]") {
  auto rec = [](const std::string& id, double time, const std::string& version) {
    LoggedRequest r;
    r.id = id;
    r.time = time;
    r.version = version;
    return r;
  };
  auto ids = [](const ReplayWindow& w) {
    std::string s;
    for (const auto& r : w.requests) s += r.id;
    return s;
  };
  // An earlier run's replay (a, b), this replay (c, d, e; the log keeps whole seconds), another
  // version's traffic meanwhile (x). The replay started at 1000.6.
  const std::vector<LoggedRequest> log = {rec("a", 100, "v1"),  rec("b", 101, "v1"),
                                          rec("c", 1000, "v1"), rec("x", 1000, "v2"),
                                          rec("d", 1001, "v1"), rec("e", 1001, "v1")};
  auto w = select_replay_window(log, "v1", 0, 1000.6, 3, 0);
  CHECK(ids(w) == "cde");
  CHECK(w.expected == 3);
  CHECK_FALSE(w.fell_back);
  w = select_replay_window(log, "v1", 0, 1000.6, 3, 2);  // window: 2
  CHECK(ids(w) == "de");
  CHECK(w.expected == 2);
  w = select_replay_window(log, "v1", 0, 1000.6, -1, 0);  // no replay: the whole version
  CHECK(ids(w) == "abcde");
  CHECK(w.expected == 0);
  // A server clock 5 s behind ours logged the replay before it started: the newest three.
  const std::vector<LoggedRequest> lagging = {rec("a", 100, "v1"), rec("b", 101, "v1"),
                                              rec("c", 995, "v1"), rec("d", 996, "v1"),
                                              rec("e", 996, "v1")};
  w = select_replay_window(lagging, "v1", 0, 1000.6, 3, 0);
  CHECK(ids(w) == "cde");
  CHECK(w.fell_back);
  // Not logged yet at all: nothing newer to fall back on beyond what the version has.
  w = select_replay_window({rec("a", 100, "v1")}, "v1", 0, 1000.6, 3, 0);
  CHECK(ids(w) == "a");
  CHECK(w.fell_back);
}

TEST_CASE("no drift on same-distribution traffic, drift on production-shift", "[monitor][drift]") {
  const auto profile = reference_profile();
  REQUIRE(profile.prompts > 1000);
  const Thresholds t;
  const auto same = analyze(profile, traffic("base", 7, 300), {}, t);
  const auto shifted = analyze(profile, traffic("production-shift", 7, 300), {}, t);
  INFO("base: " << same.values.dump());
  INFO("shifted: " << shifted.values.dump());
  INFO("base psi_unigram=" << same.values["psi_unigram"]
                           << " js_unigram=" << same.values["js_unigram"] << " psi_bigram="
                           << same.values["psi_bigram"] << " js_bigram=" << same.values["js_bigram"]
                           << " oov=" << same.values["oov_rate"]
                           << " unknown_intent=" << same.values["unknown_intent_rate"]);
  INFO("shift psi_unigram=" << shifted.values["psi_unigram"]
                            << " js_unigram=" << shifted.values["js_unigram"]
                            << " psi_bigram=" << shifted.values["psi_bigram"] << " js_bigram="
                            << shifted.values["js_bigram"] << " oov=" << shifted.values["oov_rate"]
                            << " unknown_intent=" << shifted.values["unknown_intent_rate"]);
  CHECK(same.findings.empty());
  CHECK(same.triggers().empty());
  CHECK(same.values["psi_unigram"].get<double>() < t.psi);
  CHECK(same.values["js_unigram"].get<double>() < t.js);
  CHECK(same.values["unknown_intent_rate"].get<double>() < t.unknown_intent);

  CHECK(shifted.triggers() == std::vector<std::string>{"drift"});
  CHECK(shifted.values["psi_bigram"].get<double>() > t.psi);
  CHECK(shifted.values["unknown_intent_rate"].get<double>() > t.unknown_intent);
  const auto payload = shifted.payload("drift");
  CHECK(!payload["reasons"].empty());
  CHECK(payload["values"].contains("psi_bigram"));
}

TEST_CASE("quality and latency findings, and too little data never triggers", "[monitor][drift]") {
  const auto profile = reference_profile();
  auto window = traffic("base", 9, 100);
  for (size_t i = 0; i < window.size(); ++i) {
    window[i].latency_ms = i % 10 == 0 ? 9000 : 30;
    if (i % 5 == 0) window[i].status = 500;
  }
  std::map<std::string, double> feedback;
  for (size_t i = 0; i < 10; ++i) feedback[window[i].id] = i < 5 ? -1 : 1;
  Thresholds t;
  const auto a = analyze(profile, window, feedback, t);
  for (const auto& f : a.findings) INFO(f.reason);
  INFO(a.values.dump());
  CHECK(a.triggers() == std::vector<std::string>{"quality", "latency"});
  CHECK(a.values["error_rate"].get<double>() == Approx(0.2));
  CHECK(a.values["negative_feedback_rate"].get<double>() == Approx(0.5));
  t.min_requests = 1000;
  const auto few = analyze(profile, window, feedback, t);
  CHECK_FALSE(few.enough_data);
  CHECK(few.findings.empty());
}

TEST_CASE("the plugin writes the report and production data and raises triggers",
          "[monitor][plugin]") {
  const auto so = fs::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-plugin-monitor-drift.so";
  void* lib = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(lib != nullptr);
  auto create = reinterpret_cast<llmops::Plugin* (*)()>(dlsym(lib, "llmops_plugin_create"));
  REQUIRE(create != nullptr);
  TempDir t;
  write_file(t.path / "ref" / "data.jsonl", synth("base", 1, 600));
  write_file(t.path / "log" / "requests.jsonl",
             as_request_log(synth("production-shift", 3, 200), "v1"));
  const std::string correction =
      R"({"messages":[{"role":"user","content":"fixed prompt"},{"role":"assistant","content":"ok"}]})";
  write_file(t.path / "corr" / "data.jsonl", correction + "\n");
  write_file(t.path / "dep" / "deployment.json",
             json{{"name", "tasks"}, {"version", "v1"}, {"request_log", (t.path / "log").string()}}
                 .dump());
  FakeContext ctx(t.path / "work", json::object());
  ctx.add_input("deployment", t.path / "dep", "deployment");
  ctx.add_input("reference", t.path / "ref", "dataset");
  ctx.add_input("corrections", t.path / "corr", "dataset");
  {
    std::unique_ptr<llmops::Plugin> p(create());
    REQUIRE(p);
    auto st = p->run(ctx);
    REQUIRE(st);
  }
  REQUIRE(!ctx.triggers.empty());
  CHECK(ctx.triggers[0].kind == "drift");
  CHECK(ctx.triggers[0].reason.find("PSI") != std::string::npos);
  CHECK(json::parse(ctx.triggers[0].payload_json)["values"].contains("psi_bigram"));
  const auto meta = json::parse(ctx.output_metadata.at("report"));
  CHECK(meta["drift"] == true);
  CHECK(!meta["reasons"].empty());
  CHECK(ctx.last_metric("psi_unigram").has_value());
  const auto report = json::parse(std::ifstream(ctx.outputs.at("report") / "report.json"));
  CHECK(report["drift"] == true);
  CHECK(report["requests"] == 200);
  CHECK(fs::exists(ctx.outputs.at("report") / "report.md"));
  std::ifstream data(ctx.outputs.at("production") / "data.jsonl");
  std::string line, last;
  int lines = 0;
  while (std::getline(data, line)) ++lines, last = line;
  CHECK(lines == 201);
  CHECK(last == correction);
  // Not dlclose()d: libtorch, which the plugin may link, does not unload cleanly.
}

TEST_CASE("the plugin's descriptor is valid JSON and names monitor/drift", "[monitor][plugin]") {
  const auto so = fs::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-plugin-monitor-drift.so";
  void* lib = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(lib != nullptr);
  auto* d = static_cast<const llmops_plugin_descriptor_t*>(dlsym(lib, "llmops_plugin_descriptor"));
  REQUIRE(d != nullptr);
  CHECK(std::string(d->kind) == "monitor");
  CHECK(std::string(d->name) == "drift");
  CHECK(std::string(d->executor) == "inprocess");
  const auto params = json::parse(d->params_schema);
  CHECK(params["properties"]["psi"]["default"] == 0.2);
  CHECK(json::parse(d->inputs).size() == 8);
  CHECK(json::parse(d->outputs).size() == 2);
}
