// Loading pipeline text into a PipelineSpec: fields, params and overrides, templates, implied
// needs, positions, durations, sizes, semver and diagnostics formatting.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "engine/plugins/plugin_info.hpp"
#include "engine/spec/loader.hpp"
#include "tests/common/temp_dir.hpp"

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

// --- Limits: what a hostile or mistaken pipeline file can make the loader do ---

namespace {

// A "billion laughs" in 9 levels: 9^9 strings once the aliases are expanded, in under 600 bytes.
std::string alias_bomb() {
  std::string s = "      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    s += "      l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) s += (k ? ", " : "") + prev;
    s += "]\n";
  }
  return s;
}

}  // namespace

TEST_CASE("an alias bomb in a parameter default is refused at the alias", "[loader][limits]") {
  const std::string body =
      "params:\n  lol:\n    default:\n" + alias_bomb() + "steps:\n  a: {uses: testing/noop}\n";
  REQUIRE(body.size() < 1024);
  auto r = load(body);  // before: ran until memory ran out (15 GB and more)
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  // Line 4 of the body is l0; the alias that crosses 262144 nodes is the first '*l4' (9^5 + ...).
  CHECK(r.diagnostics[0].str().rfind("t.yaml:12:", 0) == 0);
  CHECK(r.diagnostics[0].message.find("alias '*l4' repeats") != std::string::npos);
  CHECK(r.diagnostics[0].message.find("262144 YAML nodes counted with aliases expanded") !=
        std::string::npos);
}

TEST_CASE("an alias bomb in a step's with: is refused too", "[loader][limits]") {
  std::string bomb = alias_bomb();
  auto r = load("steps:\n  a:\n    uses: testing/noop\n    with:\n      x:\n" + bomb);
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].pos.line > 0);
  CHECK(r.diagnostics[0].message.find("an alias bomb?") != std::string::npos);
}

TEST_CASE("a small budget counts expanded aliases, ordinary aliases still load",
          "[loader][limits]") {
  const std::string body = R"(params:
  base: {default: &b {lr: 0.1, epochs: 3}}
steps:
  a: {uses: testing/noop, with: {cfg: *b}}
  b: {uses: testing/noop, with: {cfg: *b}}
)";
  auto ok = load(body);
  INFO(messages(ok));
  REQUIRE(ok.ok());
  CHECK(ok.spec->steps[1].with["cfg"]["epochs"] == 3);

  LoadLimits tight;
  tight.max_nodes = 30;  // the text alone has 27 nodes; the two aliases add 5 each
  auto r = load_pipeline_text(std::string(kHeader) + body, "t.yaml", {}, true, tight);
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() ==
        "t.yaml:7:39: error: alias '*b' repeats 5 nodes, which takes the file past the limit of "
        "30 YAML nodes counted with aliases expanded (an alias bomb?): write the value out, or use "
        "fewer aliases");
}

TEST_CASE("an alias inside the node it names is refused, not walked forever", "[loader][limits]") {
  // Before: the loader followed the cycle until the stack overflowed (a crash).
  auto r = load("params:\n  x: {default: &a [1, *a]}\nsteps:\n  a: {uses: testing/noop}\n");
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() ==
        "t.yaml:5:23: error: alias '*a' is inside the node it names, which would make it endless; "
        "an alias can only repeat a node that ends before it");
  auto map = load("steps:\n  a: &s {uses: testing/noop, with: {again: *s}}\n");
  CHECK_FALSE(map.spec);
  REQUIRE(map.diagnostics.size() == 1);
  CHECK(map.diagnostics[0].message.find("alias '*s' is inside") == 0);
}

TEST_CASE("too many nodes and too deep nesting are refused at the position", "[loader][limits]") {
  LoadLimits limits;
  limits.max_nodes = 50;
  std::string list = "steps:\n  a: {uses: testing/noop, with: {x: [";
  for (int i = 0; i < 60; ++i) list += i ? ",1" : "1";
  list += "]}}\n";
  auto many = load_pipeline_text(std::string(kHeader) + list, "t.yaml", {}, true, limits);
  CHECK_FALSE(many.spec);
  REQUIRE(many.diagnostics.size() == 1);
  CHECK(many.diagnostics[0].pos.line == 5);
  CHECK(many.diagnostics[0].message.find("more than 50 YAML nodes") != std::string::npos);

  const std::string deep = "steps:\n  a: {uses: testing/noop, with: {x: " + std::string(200, '[') +
                           "1" + std::string(200, ']') + "}}\n";
  auto r = load(deep);
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() ==
        "t.yaml:5:133: error: mappings and lists are nested more than 100 deep here (the limit): "
        "flatten this value");
}

TEST_CASE("text over the size limit is refused before parsing", "[loader][limits]") {
  std::string text = std::string(kHeader) + "steps:\n  a: {uses: testing/noop}\n";
  text += "# " + std::string((1 << 20) - text.size(), 'x') + "\n";
  auto r = load_pipeline_text(text, "big.yaml");
  CHECK_FALSE(r.spec);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str().rfind("big.yaml: error: the pipeline is 1048579 bytes, more than "
                                     "the limit of 1 MiB (1048576 bytes)",
                                     0) == 0);
  CHECK(r.diagnostics[0].message.find("LLMOPS_MAX_PIPELINE_BYTES") != std::string::npos);
}

TEST_CASE("LLMOPS_MAX_PIPELINE_BYTES sets the size limit and the node budget", "[loader][limits]") {
  CHECK(default_load_limits().max_bytes == 1 << 20);
  CHECK(default_load_limits().max_nodes == 1 << 18);
  ::setenv("LLMOPS_MAX_PIPELINE_BYTES", "4Mi", 1);
  const LoadLimits four = default_load_limits();
  ::setenv("LLMOPS_MAX_PIPELINE_BYTES", "lots", 1);
  const LoadLimits bad = default_load_limits();
  ::unsetenv("LLMOPS_MAX_PIPELINE_BYTES");
  CHECK(four.max_bytes == 4 << 20);
  CHECK(four.max_nodes == 1 << 20);
  CHECK(bad.max_bytes == 1 << 20);  // not a size: the default
}

TEST_CASE("read_pipeline_file reads at most the limit, from files, devices and FIFOs",
          "[loader][limits]") {
  llmops::testing::TempDir dir("loader");
  std::vector<Diagnostic> d;
  // Before: /dev/zero was read until memory ran out.
  CHECK_FALSE(read_pipeline_file("/dev/zero", &d));
  REQUIRE(d.size() == 1);
  CHECK(d[0].str() ==
        "/dev/zero: error: read 1 MiB (1048576 bytes) from the device without reaching its end, "
        "more than the limit for a pipeline: pipeline files are small YAML documents; check that "
        "this is the right file, or raise the limit with LLMOPS_MAX_PIPELINE_BYTES (e.g. 4Mi)");

  d.clear();
  const auto big = dir.path / "big.yaml";
  std::ofstream(big) << std::string(2000, '#');
  CHECK(read_pipeline_file(big, &d, 2000) == std::string(2000, '#'));
  CHECK_FALSE(read_pipeline_file(big, &d, 1999));
  REQUIRE(d.size() == 1);
  CHECK(d[0].message.rfind("the pipeline file is 2000 bytes, more than the limit of 1999 bytes: ",
                           0) == 0);

  d.clear();
  CHECK_FALSE(read_pipeline_file(dir.path, &d));
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "cannot read pipeline file: it is a folder; give the path of a YAML file");

  // A FIFO is read (with a bound): `llmops run <(generate)` works.
  const auto fifo = dir.path / "p.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const size_t size : {size_t{1500}, size_t{3000}}) {
    std::thread writer([&] {
      const int fd = ::open(fifo.c_str(), O_WRONLY);  // waits for the reader
      if (fd < 0) return;
      const std::string text(size, '#');  // one write of at most PIPE_BUF: all in the pipe at once
      (void)!::write(fd, text.data(), text.size());
      ::close(fd);
    });
    d.clear();
    auto text = read_pipeline_file(fifo, &d, 2000);
    writer.join();
    if (size <= 2000) {
      CHECK(text == std::string(size, '#'));
    } else {
      CHECK_FALSE(text);
      REQUIRE(d.size() == 1);
      CHECK(d[0].message.rfind("read 2000 bytes from the pipe without reaching its end", 0) == 0);
    }
  }
}

TEST_CASE("a -p value is bounded like the file", "[loader][limits]") {
  std::string value = "[";
  for (int i = 0; i < 2; ++i) value += "&a" + std::to_string(i) + " [1, 1, 1], ";
  value += "*a0, *a0]";
  auto small =
      load("params:\n  xs: {type: list}\nsteps:\n  a: {uses: testing/noop}\n", {{"xs", value}});
  INFO(messages(small));
  CHECK(small.ok());

  std::string bomb = "[&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]";
  for (int i = 1; i < 9; ++i) {
    bomb += ", &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]";
  }
  bomb += "]";
  auto r = load("params:\n  xs: {type: list}\nsteps:\n  a: {uses: testing/noop}\n", {{"xs", bomb}});
  CHECK_FALSE(r.ok());
  CHECK(messages(r).find("-p xs=") != std::string::npos);
}
