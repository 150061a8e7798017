// Executable plugins (step protocol, docs/step-protocol.md) through the real CLI: the Python
// examples in a pipeline (metrics, sealed outputs, cache), the shell helper, every fault the
// protocol bounds (tests/data/step-protocol), a broken manifest, `plugins check` and
// `plugins new`.
#include <catch2/catch.hpp>

#include <chrono>

#include "tests/common/processes.hpp"
#include "tests/integration/cli_harness.hpp"

using namespace llmops::testing;

namespace {

const std::string kFixtures = std::string(LLMOPS_SOURCE_DIR) + "/tests/data/step-protocol";
const std::string kFixturePath = "LLMOPS_PLUGIN_PATH=" + kFixtures;

CliResult run_fixture(const TempHome& t, const std::vector<std::string>& args) {
  return run_cli_env(t, args, {kFixturePath});
}

std::string pipeline(const std::string& steps) {
  return "apiVersion: llmops/v1\nkind: Pipeline\nname: sp\nsteps:\n" + steps;
}

}  // namespace

TEST_CASE("Python plugins run in a pipeline with metrics, sealed outputs and caching",
          "[step-protocol]") {
  TempHome t;
  const auto file = std::string(LLMOPS_SOURCE_DIR) + "/pipelines/python-steps.yaml";
  auto r = run_cli(t, {"run", file, "-p", "conversations=300"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto show = show_json(t, 1);
  const auto lang_step = step_of(show, "language");
  const auto& lang = lang_step["executions"].back();
  CHECK(lang["plugin"].get<std::string>().find("curator/lang-filter") != std::string::npos);
  CHECK(lang["metrics"]["rows_in"].back()["value"] == 300);
  const double kept = lang["metrics"]["kept"].back()["value"];
  CHECK(kept > 250);
  CHECK(kept < 300);  // the synthetic data has dirt the filter drops
  // The output is a sealed artifact with the metadata the step gave it, consumed downstream.
  const auto out = output_of(show, "language", "dataset");
  REQUIRE(out.is_object());
  CHECK(out["digest"].get<std::string>().rfind("sha256:", 0) == 0);
  const auto text = read_artifact(out["uri"].get<std::string>());
  CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(kept));
  const auto stats_step = step_of(show, "stats");
  const auto& stats = stats_step["executions"].back();
  CHECK(stats["state"] == "succeeded");
  CHECK(stats["metrics"].contains("tool_call_share"));
  CHECK(output_of(show, "stats", "report").is_object());
  // Lineage reaches the raw data through the Python step.
  auto lin = run_cli(t, {"lineage", "1:stats"});
  CHECK(lin.out.find("language") != std::string::npos);
  // Same inputs, same plugin files: cached.
  auto again = run_cli(t, {"run", file, "-p", "conversations=300"});
  CHECK(again.out.find("language             cached") != std::string::npos);
}

TEST_CASE("the shell helper, and every protocol fault is bounded and reported", "[step-protocol]") {
  TempHome t;
  const std::string marker = "llmops-forker-" + std::to_string(getpid());
  const auto file =
      t.write("p.yaml", pipeline(R"(  ok: {uses: testing/shell-ok, with: {text: "hi there"}}
  noresult: {uses: testing/no-result}
  nohello: {uses: testing/no-hello}
  hang: {uses: testing/hang}
  flood: {uses: testing/flood}
  forker: {uses: testing/forker, with: {marker: )" +
                                 marker + R"(}}
  mismatch: {uses: testing/mismatch}
  bytes: {uses: testing/bad-bytes}
)"));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_fixture(t, {"run", file.string(), "--max-parallel", "2"});
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(took < 60);
  auto err_of = [&](const std::string& step) {
    return sql_one(t, "SELECT error FROM executions WHERE step = '" + step + "'");
  };
  CHECK(step_state(t, "ok") == "succeeded");
  CHECK(read_artifact(output_of(show_json(t, 1), "ok", "out")["uri"].get<std::string>()) ==
        "hi there\n");
  CHECK(err_of("noresult").find("exited with status 0 without writing a result") !=
        std::string::npos);
  CHECK(err_of("nohello").find("sent no hello within 1 s") != std::string::npos);
  CHECK(err_of("nohello").find("stderr ends: never speaks the protocol") != std::string::npos);
  // SIGTERM ignored: SIGKILL after the 1 s grace; the step ends soon after the 2 s timeout its
  // manifest gives it.
  CHECK(err_of("hang").find("timed out after 2s") != std::string::npos);
  const double hang_s =
      std::stod(sql_one(t, "SELECT ended_at - started_at FROM executions WHERE step = 'hang'"));
  CHECK(hang_s < 6);
  // 300,000 metric events, a 100 MB line and a line that is not JSON: bounded and reported.
  CHECK(step_state(t, "flood") == "succeeded");
  const auto flood_log = run_cli(t, {"logs", "1", "flood"}).out;
  CHECK(flood_log.find("more than 200000 metric events; the rest are dropped") !=
        std::string::npos);
  CHECK(flood_log.find("an event line over 1 MiB was dropped") != std::string::npos);
  CHECK(flood_log.find("is not a JSON object") != std::string::npos);
  // A child it left running is killed with its process group.
  CHECK(step_state(t, "forker") == "succeeded");
  CHECK(processes_with({marker}).empty());
  CHECK(err_of("mismatch").find("exited with status 3 but its result says ok") !=
        std::string::npos);
  // Bytes that are not UTF-8 (events, stderr cut mid-character) are reported, never fatal.
  CHECK(err_of("bytes").find("exited with status 3 without writing a result") != std::string::npos);
  CHECK(err_of("bytes").find("stderr ends: printed on stdout") != std::string::npos);
  const auto bytes_log = run_cli(t, {"logs", "1", "bytes"}).out;
  CHECK(bytes_log.find("an event line is not a JSON object") != std::string::npos);
}

TEST_CASE("invalid_input and permanent failures are not retried, retryable ones are",
          "[step-protocol]") {
  TempHome t;
  const auto file = t.write(
      "p.yaml",
      pipeline(
          R"(  bad: {uses: testing/fails-with, with: {code: invalid_input}, retries: {max: 2, initial: 10ms}}
  perm: {uses: testing/fails-with, with: {code: permanent}, retries: {max: 2, initial: 10ms}}
  again: {uses: testing/fails-with, with: {code: retryable}, retries: {max: 2, initial: 10ms}}
)"));
  auto r = run_fixture(t, {"run", file.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  auto attempts = [&](const std::string& step) {
    return std::stoi(sql_one(t, "SELECT COUNT(*) FROM executions WHERE step = '" + step + "'"));
  };
  CHECK(attempts("bad") == 1);
  CHECK(attempts("perm") == 1);
  CHECK(attempts("again") == 3);
  CHECK(sql_one(t, "SELECT error FROM executions WHERE step = 'bad'") ==
        "failing as asked: invalid_input");
}

TEST_CASE("a broken manifest is reported with file and line and spoils nothing else",
          "[step-protocol]") {
  TempHome t;
  auto list = run_fixture(t, {"plugins", "list"});
  INFO(list.out << list.err);
  CHECK(list.exit_code == 0);
  CHECK(list.out.find("broken/llmops-plugin.yaml:1:11: this llmops speaks step protocol 1") !=
        std::string::npos);
  CHECK(list.out.find("llmops-plugin.yaml:3:10: version must be semantic") != std::string::npos);
  CHECK(list.out.find("missing.sh is missing or not executable") != std::string::npos);
  CHECK(list.out.find("llmops-plugin.yaml:6:1: unknown key 'surprise'") != std::string::npos);
  CHECK(list.out.find("testing/shell-ok") != std::string::npos);
  auto json = nlohmann::json::parse(run_fixture(t, {"plugins", "list", "--json"}).out);
  bool exec_listed = false;
  for (const auto& p : json)
    if (p["id"] == "testing/shell-ok")
      exec_listed = p["runtime"] == "executable" && p["abi"] == "step/1";
  CHECK(exec_listed);
  auto hang =
      nlohmann::json::parse(run_fixture(t, {"plugins", "describe", "testing/hang", "--json"}).out);
  CHECK(hang["defaults"]["timeout_s"] == 2);
  CHECK(hang["defaults"]["memory"] == 300 << 20);
  auto desc = run_fixture(t, {"plugins", "describe", "testing/shell-ok"});
  CHECK(desc.out.find("executable, protocol step/1") != std::string::npos);
  CHECK(desc.out.find("text") != std::string::npos);
  // validate checks `with:` against the manifest's schema, as for a library plugin.
  const auto file = t.write("p.yaml", pipeline("  ok: {uses: testing/shell-ok, with: {txt: 1}}\n"));
  auto v = run_fixture(t, {"validate", file.string()});
  CHECK(v.exit_code != 0);
  CHECK((v.out + v.err).find("unknown parameter 'txt'") != std::string::npos);
  // A step using the broken plugin: validate says why it cannot be used.
  const auto uses_broken = t.write("b.yaml", pipeline("  b: {uses: testing/broken}\n"));
  auto vb = run_fixture(t, {"validate", uses_broken.string()});
  CHECK(vb.exit_code != 0);
  CHECK((vb.out + vb.err).find("plugin 'testing/broken' cannot be loaded") != std::string::npos);
  CHECK((vb.out + vb.err).find("version must be semantic") != std::string::npos);
}

TEST_CASE("plugins new scaffolds a Python plugin that plugins check finds conformant",
          "[step-protocol]") {
  TempHome t;
  const auto dir = t.path() / "my-filter";
  auto made = run_cli(t, {"plugins", "new", "curator/my-filter", "--dir", dir.string()});
  INFO(made.out << made.err);
  REQUIRE(made.exit_code == 0);
  for (const char* f : {"llmops-plugin.yaml", "main.py", "test_plugin.py", "README.md"})
    CHECK(fs::exists(dir / f));
  auto check = run_cli(t, {"plugins", "check", dir.string(), "--json"});
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  auto j = nlohmann::json::parse(check.out);
  CHECK(j["ok"] == true);
  CHECK(j["checks"].size() == 7);
  // The examples are conformant; a program without a result is not.
  for (const char* ex : {"lang-filter", "chat-stats"}) {
    auto c =
        run_cli(t, {"plugins", "check", std::string(LLMOPS_SOURCE_DIR) + "/plugins/python/" + ex});
    INFO(ex << ": " << c.out);
    CHECK(c.exit_code == 0);
  }
  // A program that ignores SIGTERM and never ends: bounded by --timeout, and both checks fail.
  auto hang = run_cli(t, {"plugins", "check", kFixtures + "/hang", "--timeout", "2"});
  INFO(hang.out);
  CHECK(hang.exit_code != 0);
  CHECK(hang.out.find("it did not finish within 2 s") != std::string::npos);
  CHECK(hang.out.find("FAIL  SIGTERM ends it within the grace period") != std::string::npos);
  CHECK(hang.out.find("it ignored SIGTERM and was killed") != std::string::npos);
  auto bad = run_cli(t, {"plugins", "check", kFixtures + "/no-result"});
  CHECK(bad.exit_code != 0);
  CHECK(bad.out.find("FAIL  it runs: hello, result ok, exit 0") != std::string::npos);
  CHECK(bad.out.find("FAIL  run by hand") != std::string::npos);
  auto cpp = run_cli(t, {"plugins", "new", "evaluator/my-eval", "--lang", "cpp", "--dir",
                         (t.path() / "cpp").string()});
  INFO(cpp.out << cpp.err);
  CHECK(cpp.exit_code == 0);
  const auto src = slurp(t.path() / "cpp" / "src" / "my_eval.cpp");
  CHECK(src.find("LLMOPS_PLUGIN(") != std::string::npos);
  CHECK(src.find("\"evaluator\", \"my-eval\"") != std::string::npos);
  CHECK(slurp(t.path() / "cpp" / "CMakeLists.txt").find("llmops_add_plugin(my-eval") !=
        std::string::npos);
}
