// A plugin's descriptor, not its kind, decides whether its steps may be served from the cache;
// a plugin built against the ABI 1.0 SDK still loads, lists and runs.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

std::vector<std::string> test_plugin_env(const TempHome& t) {
  return {"LLMOPS_PLUGIN_PATH=" + (fs::path(LLMOPS_BINARY_DIR) / "test-plugins").string(),
          "XDG_CACHE_HOME=" + (t.path() / "cache").string()};
}

}  // namespace

TEST_CASE("a plugin that is not cacheable runs on every run, whatever the cache holds",
          "[integration][cache]") {
  TempHome t;
  auto file = t.write("p.yaml", R"(apiVersion: llmops/v1
kind: Pipeline
name: uncached
steps:
  make: {uses: testing/write, with: {text: same}}
  watch: {uses: testing/uncacheable, inputs: {data: "${{ steps.make.outputs.out }}"}}
  old: {uses: monitor/old-abi}
)");
  for (int run = 1; run <= 2; ++run) {
    auto r = run_cli_env(t, {"run", file.string()}, test_plugin_env(t));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  auto show = show_json(t, 2);
  REQUIRE(show.is_object());
  CHECK(step_of(show, "make")["state"] == "cached");
  CHECK(step_of(show, "watch")["state"] == "succeeded");
  CHECK(read_artifact(output_of(show, "watch")["uri"]) == "2");
  // Built for ABI 1.0, when the engine decided by kind: a monitor, so never cached either.
  CHECK(step_of(show, "old")["state"] == "succeeded");
}

TEST_CASE("plugins list and describe say which plugins are never cached", "[integration][cache]") {
  TempHome t;
  auto list = run_cli_env(t, {"plugins", "list", "--json"}, test_plugin_env(t));
  REQUIRE(list.exit_code == 0);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& p : list.json()) by_id[p["id"].get<std::string>()] = p;
  REQUIRE(by_id.count("testing/uncacheable"));
  CHECK(by_id["testing/uncacheable"]["cacheable"] == false);
  REQUIRE(by_id.count("monitor/old-abi"));
  CHECK(by_id["monitor/old-abi"]["abi"] == "1.0");
  CHECK(by_id["monitor/old-abi"]["broken"] == "");
  CHECK(by_id["monitor/old-abi"]["cacheable"] == false);
  REQUIRE(by_id.count("testing/noop"));
  CHECK(by_id["testing/noop"]["cacheable"] == true);
  auto describe =
      run_cli_env(t, {"plugins", "describe", "testing/uncacheable"}, test_plugin_env(t));
  REQUIRE(describe.exit_code == 0);
  CHECK_THAT(describe.out, Catch::Contains("never cached"));
}
