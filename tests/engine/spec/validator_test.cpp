// Validation: the bad-pipeline corpus (tests/data/bad/NAME.yaml -> NAME.expected), the good
// pipelines, plugin inputs and kinds, and the pipeline JSON Schema.
//
// Corpus convention: each NAME.yaml is loaded (LoadedPipeline::from_file with the catalog) under
// the path "tests/data/bad/NAME.yaml" relative to the source tree (the test runs there), so the
// expected lines carry that path. A first line "# llmops-test: -p k=v -p k2=v2" gives `-p`
// overrides. LLMOPS_UPDATE_EXPECTED=1 rewrites the .expected files (review the diff before
// committing).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>

#include "engine/spec/loaded_pipeline.hpp"
#include "engine/spec/validator.hpp"
#include "tests/common/list_catalog.hpp"

namespace fs = std::filesystem;
using namespace llmops::engine;
using nlohmann::json;

namespace {

LoadedPipeline check_file(const fs::path& file, const std::map<std::string, std::string>& overrides,
                          const PluginCatalog& catalog) {
  LoadOptions lo;
  lo.overrides = overrides;
  lo.catalog = &catalog;
  return LoadedPipeline::from_file(file, lo);
}

LoadedPipeline check_text(const std::string& text, const std::string& file,
                          const std::map<std::string, std::string>& overrides,
                          const PluginCatalog& catalog) {
  LoadOptions lo;
  lo.overrides = overrides;
  lo.catalog = &catalog;
  return LoadedPipeline::from_text(text, file, lo);
}

PluginInfo make_plugin(const std::string& id, const std::string& schema, const std::string& inputs,
                       const std::string& outputs, const std::string& version = "1.0.0") {
  PluginInfo p;
  p.id = id;
  p.kind = id.substr(0, id.find('/'));
  p.name = id.substr(id.find('/') + 1);
  p.version = version;
  p.params_schema = json::parse(schema);
  for (const auto& port : json::parse(inputs)) {
    p.inputs.push_back({port["name"], port["kind"], port.value("required", true)});
  }
  for (const auto& port : json::parse(outputs)) p.outputs.push_back({port["name"], port["kind"]});
  return p;
}

// Mirrors the descriptors in plugins/testing/*.cpp.
class FakeCatalog : public llmops::testing::ListCatalog {
 public:
  FakeCatalog() {
    add(make_plugin("testing/noop",
                    R"({"type":"object","additionalProperties":false,"properties":{}})", "[]",
                    "[]"));
    add(make_plugin("testing/sleep", R"({"type":"object","additionalProperties":false,"properties":{
        "seconds":{"type":"number","minimum":0,"default":1,"description":"How long"},
        "ignore_cancel":{"type":"boolean","default":false}}})",
                    "[]", "[]"));
    add(make_plugin("testing/fail", R"({"type":"object","additionalProperties":false,"properties":{
        "times":{"type":"integer","default":-1,"description":"Attempts that fail; -1: all"},
        "message":{"type":"string","default":"failed on purpose"}}})",
                    "[]", "[]"));
    add(make_plugin("testing/write",
                    R"({"type":"object","additionalProperties":false,"required":["text"],
        "properties":{"text":{"type":"string","description":"What to write"},
                      "filename":{"type":"string","default":"out.txt"}}})",
                    "[]", R"([{"name":"out","kind":"file"}])"));
    add(make_plugin("testing/concat", R"({"type":"object","additionalProperties":false,
        "properties":{"separator":{"type":"string","default":""}}})",
                    "[]", R"([{"name":"out","kind":"file"}])"));
  }
};

// Runs the test body in the source tree so that file names print relative to it.
class InSourceDir {
 public:
  InSourceDir() : saved_(fs::current_path()) { fs::current_path(LLMOPS_SOURCE_DIR); }
  ~InSourceDir() { fs::current_path(saved_); }

 private:
  fs::path saved_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> overrides_of(const std::string& text) {
  std::map<std::string, std::string> out;
  const std::string marker = "# llmops-test:";
  if (text.rfind(marker, 0) != 0) return out;
  std::istringstream line(text.substr(marker.size(), text.find('\n') - marker.size()));
  std::string word;
  while (line >> word) {
    if (word == "-p" && line >> word) {
      auto eq = word.find('=');
      out[word.substr(0, eq)] = eq == std::string::npos ? "" : word.substr(eq + 1);
    }
  }
  return out;
}

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string render(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += d.str() + "\n";
  return out;
}

}  // namespace

TEST_CASE("bad pipelines produce exactly the expected diagnostics", "[validator][corpus]") {
  InSourceDir here;
  FakeCatalog catalog;
  const bool update = std::getenv("LLMOPS_UPDATE_EXPECTED") != nullptr;
  auto files = yaml_files("tests/data/bad");
  CHECK(files.size() >= 25);
  for (const auto& file : files) {
    auto result = check_file(file, overrides_of(read_file(file)), catalog);
    std::string actual = render(result.diagnostics);
    fs::path expected_file = fs::path(file).replace_extension(".expected");
    if (update) std::ofstream(expected_file, std::ios::binary) << actual;
    INFO("pipeline: " << file.string());
    CHECK_FALSE(result.ok());
    CHECK_FALSE(actual.empty());
    CHECK(actual == read_file(expected_file));
  }
}

TEST_CASE("good pipelines load and validate with no diagnostics", "[validator][corpus]") {
  InSourceDir here;
  FakeCatalog catalog;
  auto files = yaml_files("tests/data/good");
  CHECK(files.size() >= 5);
  for (const auto& file : files) {
    auto result = check_file(file, {}, catalog);
    INFO("pipeline: " << file.string() << "\n" << render(result.diagnostics));
    CHECK(result.ok());
    CHECK(result.diagnostics.empty());
  }
}

TEST_CASE("good pipeline content is what the file says", "[validator]") {
  InSourceDir here;
  auto r = load_pipeline_file("tests/data/good/full.yaml", {{"epochs", "7"}});
  REQUIRE(r.ok());
  const auto& spec = *r.spec;
  CHECK(spec.param_values["epochs"] == 7);
  const StepSpec* b = spec.find_step("b");
  REQUIRE(b);
  CHECK(b->needs == std::vector<std::string>{"a"});
  CHECK(b->when == "${{ params.flag }} && ${{ steps.a.metrics.count }} > 2");
  const StepSpec* c = spec.find_step("c");
  REQUIRE(c);
  CHECK(c->version_constraint == ">=1.0 <2");
  CHECK(c->timeout_s == 90);
  CHECK(spec.feedback["reenter"] == "a");
  CHECK(spec.schedule["cron"] == "0 3 * * *");
}

TEST_CASE("inputs are checked against declared plugin inputs and kinds", "[validator]") {
  FakeCatalog catalog;
  catalog.add(
      make_plugin("curators/tokenize", "{}", "[]",
                  R"([{"name":"dataset","kind":"dataset"},{"name":"vocab","kind":"any"}])"));
  catalog.add(make_plugin("trainers/lm", "{}",
                          R"([{"name":"data","kind":"dataset"},
                              {"name":"init","kind":"model","required":false}])",
                          R"([{"name":"model","kind":"model"}])"));
  auto r = check_text(R"(apiVersion: llmops/v1
kind: Pipeline
name: kinds
steps:
  prep: {uses: curators/tokenize}
  note: {uses: testing/write, with: {text: hi}}
  ok:
    uses: trainers/lm
    inputs: {data: "${{ steps.prep.outputs.dataset }}", init: "${{ steps.prep.outputs.vocab }}"}
  wrong-kind:
    uses: trainers/lm
    inputs: {data: "${{ steps.note.outputs.out }}"}
  missing:
    uses: trainers/lm
    inputs: {dta: "${{ steps.prep.outputs.dataset }}"}
)",
                      "kinds.yaml", {}, catalog);
  std::string expected =
      "kinds.yaml:12:14: error: input 'data' of step 'wrong-kind' expects kind 'dataset' but "
      "steps.note.outputs.out is of kind 'file' (testing/write)\n"
      "kinds.yaml:13:3: error: step 'missing' (trainers/lm) is missing required input 'data' "
      "(kind dataset); add it under inputs:, e.g. data: ${{ steps.STEP.outputs.NAME }}\n"
      "kinds.yaml:15:14: error: unknown input 'dta' for trainers/lm in step 'missing'; did you "
      "mean 'data'? (its inputs: data, init)\n";
  CHECK(render(r.diagnostics) == expected);
}

TEST_CASE("a broken plugin is reported where it is used", "[validator]") {
  FakeCatalog catalog;
  auto broken = make_plugin("testing/broken", "{}", "[]", "[]");
  broken.broken = "built for ABI 2.0, this engine speaks 1.0";
  catalog.add(broken);
  auto r = check_text(
      "apiVersion: llmops/v1\nkind: Pipeline\nname: b\nsteps:\n  x: {uses: testing/broken}\n",
      "b.yaml", {}, catalog);
  CHECK(render(r.diagnostics) ==
        "b.yaml:5:13: error: plugin 'testing/broken' cannot be loaded: built for ABI 2.0, this "
        "engine speaks 1.0\n");
}

TEST_CASE("pipeline schema is JSON Schema 2020-12 and covers the pipelines we ship",
          "[validator][schema]") {
  InSourceDir here;
  json schema = json::parse(read_file("schemas/pipeline.schema.json"));
  CHECK(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  const json& top = schema["properties"];
  const json& step = schema["$defs"]["step"]["properties"];
  std::vector<fs::path> files = yaml_files("tests/data/good");
  for (const auto& f : yaml_files("pipelines")) files.push_back(f);
  for (const auto& file : files) {
    INFO("pipeline: " << file.string());
    YAML::Node doc = YAML::LoadFile(file.string());
    REQUIRE(doc.IsMap());
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      CHECK(top.contains(it->first.Scalar()));
    }
    for (const char* key : {"apiVersion", "kind", "name", "steps"}) CHECK(doc[key]);
    for (auto it = doc["steps"].begin(); it != doc["steps"].end(); ++it) {
      for (auto kv = it->second.begin(); kv != it->second.end(); ++kv) {
        INFO("step " << it->first.Scalar());
        CHECK(step.contains(kv->first.Scalar()));
      }
    }
  }
}
