// Loading pipeline text into a PipelineSpec: fields, params and overrides, templates, implied
// needs, positions, durations, sizes, semver and diagnostics formatting.
#include <catch2/catch.hpp>

#include "engine/plugins/plugin_info.hpp"
#include "engine/spec/loader.hpp"

using namespace llmops::engine;
using nlohmann::json;

namespace {

const char* kHeader = "apiVersion: llmops/v1\nkind: Pipeline\nname: t\n";

LoadResult load(const std::string& body, const std::map<std::string, std::string>& p = {}) {
  return load_pipeline_text(std::string(kHeader) + body, "t.yaml", p);
}

std::string messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

}  // namespace

TEST_CASE("a step's fields land in the spec", "[loader]") {
  auto r = load(R"(defaults: {retries: 2, timeout: 30m, executor: subprocess}
steps:
  a:
    uses: testing/write@^1.0
    with: {text: "hello", n: 3, nested: {list: [1, "two"]}}
  b:
    uses: testing/concat
    needs: a
    inputs: {first: "${{ steps.a.outputs.out }}", lit: /tmp/x}
    when: "${{ steps.a.metrics.count }} > 2"
    retries: {max: 3, initial: 1s, factor: 3, max_delay: 30s, jitter: false}
    timeout: 2h
    cache: false
    executor: inprocess
    resources: {cpus: 0.5, gpus: 1, memory: 2Gi}
)");
  INFO(messages(r));
  REQUIRE(r.ok());
  const auto& spec = *r.spec;
  CHECK(spec.api_version == "llmops/v1");
  CHECK(spec.name == "t");
  CHECK(spec.defaults.retries.max == 2);
  CHECK(spec.defaults.timeout_s == 1800);
  CHECK(spec.defaults.executor == "subprocess");
  REQUIRE(spec.steps.size() == 2);
  const auto& a = spec.steps[0];
  CHECK(a.uses == "testing/write");
  CHECK(a.version_constraint == "^1.0");
  CHECK(a.pos.line == 6);
  CHECK(a.pos.col == 3);
  CHECK(a.uses_pos.line == 7);
  CHECK(a.with == json::parse(R"({"text":"hello","n":3,"nested":{"list":[1,"two"]}})"));
  CHECK(a.with_value_pos.at("/nested/list/1").line == 8);
  CHECK_FALSE(a.retries);
  const auto& b = spec.steps[1];
  CHECK(b.needs == std::vector<std::string>{"a"});
  CHECK(b.needs_pos.size() == 1);
  CHECK(b.inputs.at("lit") == "/tmp/x");
  CHECK(b.when == "${{ steps.a.metrics.count }} > 2");
  REQUIRE(b.retries);
  CHECK(b.retries->max == 3);
  CHECK(b.retries->factor == 3);
  CHECK(b.retries->max_s == 30);
  CHECK_FALSE(b.retries->jitter);
  CHECK(b.timeout_s == 7200);
  CHECK_FALSE(b.cache);
  CHECK(b.executor == "inprocess");
  CHECK(b.resources.cpus == 0.5);
  CHECK(b.resources.gpus == 1);
  CHECK(b.resources.memory == 2LL * 1024 * 1024 * 1024);
  REQUIRE(b.templates.size() == 2);
  CHECK(b.templates[0].expr == "steps.a.outputs.out");
  CHECK(b.templates[0].where == "steps.b.inputs.first");
  CHECK(b.templates[1].expr == "${{ steps.a.metrics.count }} > 2");
  CHECK(b.templates[1].where == "steps.b.when");
}

TEST_CASE("a plain integer for retries keeps the other defaults", "[loader]") {
  auto r = load(
      "defaults: {retries: {max: 1, initial: 5s}}\nsteps:\n  a: {uses: testing/noop, "
      "retries: 4}\n");
  REQUIRE(r.ok());
  CHECK(r.spec->steps[0].retries->max == 4);
  CHECK(r.spec->steps[0].retries->initial_s == 5);
}

TEST_CASE("references to other steps imply needs, without duplicates", "[loader]") {
  auto r = load(R"(steps:
  x: {uses: testing/write, with: {text: a}}
  y: {uses: testing/write, with: {text: b}}
  z:
    uses: testing/concat
    needs: [x]
    with: {separator: "${{ steps.x.outputs.out }}${{ steps.y.metrics.n }}"}
    when: steps.y.outputs.out != '' && env.HOME != ''
)");
  REQUIRE(r.ok());
  CHECK(r.spec->steps[2].needs == std::vector<std::string>{"x", "y"});
  CHECK(r.spec->steps[2].needs_pos.size() == 1);
}

TEST_CASE("params: defaults, types, shorthand and overrides", "[loader]") {
  const std::string body = R"(params:
  epochs: {type: int, default: 3}
  lr: {type: number, default: 0.001}
  name: {type: string}
  flag: {type: bool, default: false}
  tags: {type: list, default: [a]}
  version: {type: string, default: 1.0}
  short: 5
steps:
  a: {uses: testing/noop}
)";
  auto r = load(
      body,
      {{"name", "ada"}, {"epochs", "10"}, {"flag", "yes"}, {"lr", "1e-4"}, {"tags", "[x, y]"}});
  INFO(messages(r));
  REQUIRE(r.ok());
  const json& v = r.spec->param_values;
  CHECK(v["epochs"] == 10);
  CHECK(v["lr"] == 1e-4);
  CHECK(v["name"] == "ada");
  CHECK(v["flag"] == true);
  CHECK(v["tags"] == json::array({"x", "y"}));
  CHECK(v["version"] == "1.0");  // kept as written
  CHECK(v["short"] == 5);
  const auto& params = r.spec->params;
  REQUIRE(params.size() == 7);
  CHECK(params[2].required);
  CHECK(params[6].type == "int");

  auto missing = load(body);
  CHECK_FALSE(missing.ok());
  CHECK(messages(missing) ==
        "t.yaml:7:3: error: parameter 'name' is required: pass it with -p "
        "name=VALUE or give it a default\n");
  auto relaxed = load_pipeline_text(std::string(kHeader) + body, "t.yaml", {}, false);
  CHECK(relaxed.ok());
  CHECK_FALSE(relaxed.spec->param_values.contains("name"));
}

TEST_CASE("diagnostics carry 1-based positions and sort by them", "[loader]") {
  auto r = load("steps:\n  a:\n    uses: testing/noop\n    cache: maybe\n    timeout: soon\n");
  CHECK(messages(r) ==
        "t.yaml:7:12: error: 'cache' in step 'a' must be true or false, got 'maybe'\n"
        "t.yaml:8:14: error: invalid duration 'soon' for 'timeout' in step 'a': write a positive "
        "duration such as 500ms, 30s, 1.5m, 2h, 1h30m or 1d\n");
  REQUIRE(r.spec);  // kept so that validation can report more
}

TEST_CASE("a YAML syntax error gives its position and no spec", "[loader]") {
  auto r = load_pipeline_text("a: [1, 2\nb: 3\n", "s.yaml");
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() ==
        "s.yaml:2:2: error: YAML syntax error: end of sequence flow not found");
}

TEST_CASE("a missing file is a diagnostic", "[loader]") {
  auto r = load_pipeline_file("/nonexistent/pipeline.yaml");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() ==
        "/nonexistent/pipeline.yaml: error: cannot open pipeline file: no such file");
}

TEST_CASE("Diagnostic::str formats errors and warnings", "[loader]") {
  CHECK(Diagnostic{"p.yaml", {3, 7}, "bad", false}.str() == "p.yaml:3:7: error: bad");
  CHECK(Diagnostic{"p.yaml", {3, 7}, "meh", true}.str() == "p.yaml:3:7: warning: meh");
  CHECK(Diagnostic{"p.yaml", {}, "cli", false}.str() == "p.yaml: error: cli");
}

TEST_CASE("parse_duration", "[loader]") {
  CHECK(parse_duration("500ms") == 0.5);
  CHECK(parse_duration("30s") == 30);
  CHECK(parse_duration("1.5m") == 90);
  CHECK(parse_duration("2h") == 7200);
  CHECK(parse_duration("1h30m") == 5400);
  CHECK(parse_duration("1d") == 86400);
  CHECK(parse_duration("45") == 45);
  CHECK(parse_duration(" 2.5 ") == 2.5);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("2 hours"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1h30"));
  CHECK_FALSE(parse_duration("5w"));
  CHECK_FALSE(parse_duration("1..5s"));
}

TEST_CASE("parse_size", "[loader]") {
  CHECK(parse_size("1024") == 1024);
  CHECK(parse_size("512Mi") == 512LL << 20);
  CHECK(parse_size("2Gi") == 2LL << 30);
  CHECK(parse_size("1G") == 1000000000LL);
  CHECK(parse_size("1.5k") == 1500);
  CHECK_FALSE(parse_size("lots"));
  CHECK_FALSE(parse_size("2Xi"));
}

TEST_CASE("semver_satisfies", "[loader][semver]") {
  CHECK(semver_satisfies("1.2.3", ""));
  CHECK(semver_satisfies("1.2.3", "1.2.3"));
  CHECK_FALSE(semver_satisfies("1.2.4", "1.2.3"));
  CHECK(semver_satisfies("1.2.9", "1.2"));
  CHECK(semver_satisfies("1.9.0", "^1.2"));
  CHECK_FALSE(semver_satisfies("2.0.0", "^1.2"));
  CHECK_FALSE(semver_satisfies("1.1.0", "^1.2"));
  CHECK(semver_satisfies("0.2.5", "^0.2.3"));
  CHECK_FALSE(semver_satisfies("0.3.0", "^0.2.3"));
  CHECK(semver_satisfies("1.2.9", "~1.2.3"));
  CHECK_FALSE(semver_satisfies("1.3.0", "~1.2.3"));
  CHECK(semver_satisfies("1.0.0", ">=1.0"));
  CHECK_FALSE(semver_satisfies("0.9.9", ">=1.0"));
  CHECK(semver_satisfies("1.0.1", ">1.0.0"));
  CHECK_FALSE(semver_satisfies("1.0.0", ">1.0.0"));
  CHECK(semver_satisfies("1.9.0", "<2"));
  CHECK_FALSE(semver_satisfies("2.0.0", "<2"));
  CHECK(semver_satisfies("2.0.0", "<=2.0.0"));
  CHECK(semver_satisfies("1.5.0", ">=1.0 <2"));
  CHECK_FALSE(semver_satisfies("2.1.0", ">=1.0 <2"));
  CHECK(semver_satisfies("1.0.0-rc.1", "1.0.0"));
  CHECK_FALSE(semver_satisfies("garbage", "1.0.0"));
  CHECK(semver_constraint_valid("^1.2"));
  CHECK(semver_constraint_valid(">=1.0 <2"));
  CHECK_FALSE(semver_constraint_valid("abc"));
  CHECK_FALSE(semver_constraint_valid("^^1"));
}

TEST_CASE("closest_match suggests near misses only", "[loader]") {
  std::vector<std::string> keys{"uses", "with", "needs", "retries", "timeout"};
  CHECK(closest_match("retires", keys) == "retries");
  CHECK(closest_match("use", keys) == "uses");
  CHECK(closest_match("timout", keys) == "timeout");
  CHECK(closest_match("Needs", keys) == "needs");
  CHECK_FALSE(closest_match("banana", keys));
  CHECK_FALSE(closest_match("uses", keys));
}
