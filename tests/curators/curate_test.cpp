// The curation engine end to end on generated data: exact counts of known dirt, determinism,
// weighted merge, decontamination, and the real CLI running both plugins in a pipeline.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "curate.hpp"
#include "synth.hpp"

using namespace llmops::curators;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("llmops-cur-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

nlohmann::json generate(const fs::path& file, SynthOptions o) {
  std::ofstream out(file, std::ios::binary);
  auto r = generate_synthetic(o, out);
  REQUIRE(r.is_ok());
  return nlohmann::json::parse(r->manifest_json);
}

struct Run {
  std::string train, eval, rejected;
  nlohmann::json card;
};

Run curate(const std::vector<Source>& sources, CurateOptions o,
           const fs::path* reference = nullptr) {
  Curator c(o);
  if (reference) REQUIRE(c.add_reference(*reference).is_ok());
  std::ostringstream t, e, r;
  REQUIRE(c.run(sources, t, e, r).is_ok());
  return {t.str(), e.str(), r.str(), nlohmann::json::parse(c.card_json(sources))};
}

Source src(const std::string& name, const fs::path& path, double weight = 1.0) {
  return Source{name, path, "", "", weight};
}

int64_t count_lines(const std::string& s) {
  return std::count(s.begin(), s.end(), '\n');
}

}  // namespace

TEST_CASE("curate: a generated set loses exactly the dirt that was injected", "[curate]") {
  TempDir tmp;
  SynthOptions so;
  so.count = 2000;
  auto m = generate(tmp.path / "data.jsonl", so);
  CurateOptions o;
  o.topic_keywords = {"task"};
  auto run = curate({src("base", tmp.path / "data.jsonl")}, o);
  const auto& rej = run.card["rejected_by_reason"];
  for (const auto& [reason, n] : m["expected_rejections"].items()) {
    INFO(reason);
    CHECK(rej[reason] == n);
  }
  CHECK(rej["off_topic"] == m["dirt"]["off_topic"]);
  CHECK(rej["quality"] == 0);
  CHECK(rej["structure"] ==
        m["dirt"]["empty_turn"].get<int>() + m["dirt"]["wrong_order"].get<int>());
  for (const auto& [type, n] : m["pii"].items()) {
    INFO(type);
    CHECK(run.card["pii"][type] == n);
  }
  CHECK(run.card["pii"]["lines"] == m["dirt"]["pii_lines"]);
  const int64_t kept = m["expected_kept"].get<int64_t>() - m["dirt"]["off_topic"].get<int64_t>();
  CHECK(run.card["counts"]["kept"] == kept);
  CHECK(count_lines(run.train) + count_lines(run.eval) == kept);
  CHECK(count_lines(run.rejected) == 2000 - kept);
  // Redacted: no e-mail address survives.
  CHECK(run.train.find("@example.com") == std::string::npos);
  CHECK((run.train + run.eval).find("<EMAIL>") != std::string::npos);
  // Every rejected line says where it came from and why.
  std::istringstream in(run.rejected);
  for (std::string l; std::getline(in, l);) {
    auto j = nlohmann::json::parse(l);
    CHECK(j["source"] == "base");
    CHECK(j["line"].get<int>() >= 1);
    CHECK(!j["reason"].get<std::string>().empty());
  }
  // About 5% goes to eval.
  const double eval_share = static_cast<double>(count_lines(run.eval)) / kept;
  CHECK(eval_share > 0.02);
  CHECK(eval_share < 0.09);
}

TEST_CASE("curate: same input, same output bytes, split is stable", "[curate]") {
  TempDir tmp;
  SynthOptions so;
  so.count = 800;
  generate(tmp.path / "a.jsonl", so);
  auto r1 = curate({src("a", tmp.path / "a.jsonl")}, {});
  auto r2 = curate({src("a", tmp.path / "a.jsonl")}, {});
  CHECK(r1.train == r2.train);
  CHECK(r1.eval == r2.eval);
  CHECK(r1.rejected == r2.rejected);
  CHECK(r1.card == r2.card);
  // A line's split depends only on its content, not on what else is in the file.
  std::istringstream in(r1.eval);
  std::string first_eval;
  std::getline(in, first_eval);
  REQUIRE(!first_eval.empty());
  std::ofstream(tmp.path / "one.jsonl") << first_eval << "\n";
  auto r3 = curate({src("one", tmp.path / "one.jsonl")}, {});
  CHECK(r3.eval == first_eval + "\n");
}

TEST_CASE("curate: inputs merge with weights, duplicates across inputs count once", "[curate]") {
  TempDir tmp;
  SynthOptions so;
  so.count = 400;
  so.exact_duplicate_rate = so.near_duplicate_rate = so.pii_rate = so.malformed_json_rate = 0;
  so.invalid_utf8_rate = so.empty_turn_rate = so.wrong_order_rate = so.overlong_rate = 0;
  so.off_topic_rate = 0;
  generate(tmp.path / "base.jsonl", so);
  so.scenario = "production-shift";
  so.seed = 7;
  so.count = 200;
  generate(tmp.path / "prod.jsonl", so);
  CurateOptions o;
  o.eval_fraction = 0;
  auto r = curate(
      {src("base", tmp.path / "base.jsonl", 1.0), src("prod", tmp.path / "prod.jsonl", 2.0)}, o);
  const auto& in = r.card["inputs"];
  REQUIRE(in.size() == 2);
  CHECK(in[0]["lines"] == 400);
  CHECK(in[1]["lines"] == 200);
  const int64_t base_kept = in[0]["kept"], prod_kept = in[1]["kept"];
  CHECK(base_kept == 400);
  CHECK(prod_kept >= 195);  // a production line may happen to repeat a base one
  CHECK(in[0]["train_rows"] == base_kept);
  CHECK(in[1]["train_rows"] == 2 * prod_kept);
  CHECK(count_lines(r.train) == base_kept + 2 * prod_kept);
  // The same file twice: the second copy is all duplicates.
  auto twice = curate({src("a", tmp.path / "base.jsonl"), src("b", tmp.path / "base.jsonl")}, o);
  CHECK(twice.card["rejected_by_reason"]["exact_duplicate"] == 400);
  CHECK(twice.card["duplicates"]["exact_clusters"] == 400);
  // Weight 0.5 keeps about half, the rest is "downsampled", never silently dropped.
  auto half = curate({src("a", tmp.path / "base.jsonl", 0.5)}, o);
  const int64_t down = half.card["rejected_by_reason"]["downsampled"];
  CHECK(down > 140);
  CHECK(down < 260);
  CHECK(count_lines(half.train) + down == 400);
}

TEST_CASE("curate: decontamination drops lines that share 13-grams with the reference",
          "[curate]") {
  TempDir tmp;
  const std::string leaked =
      "please tell me what the capital city of the country of france is and also spell it out";
  std::ofstream(tmp.path / "ref.jsonl") << R"({"messages":[{"role":"user","content":")" << leaked
                                        << R"("},{"role":"assistant","content":"Paris."}]})"
                                        << "\n";
  std::ofstream(tmp.path / "data.jsonl")
      << R"({"messages":[{"role":"user","content":"so )" << leaked
      << R"( thanks"},{"role":"assistant","content":"Paris, P-A-R-I-S."}]})"
      << "\n"
      << R"({"messages":[{"role":"user","content":"add a task to buy milk tomorrow"},{"role":"assistant","content":"Done, the task is added."}]})"
      << "\n";
  const fs::path ref = tmp.path / "ref.jsonl";
  auto r = curate({src("d", tmp.path / "data.jsonl")}, {}, &ref);
  CHECK(r.card["rejected_by_reason"]["contaminated"] == 1);
  CHECK(r.card["counts"]["kept"] == 1);
}

TEST_CASE("curate: options are validated", "[curate]") {
  CurateOptions o;
  CHECK(validate(o) == "");
  o.bands = 7;
  CHECK(validate(o) != "");
  o = {};
  o.near_threshold = 0;
  CHECK(validate(o) != "");
  o = {};
  o.max_chars = 1;
  CHECK(validate(o) != "");
  o = {};
  o.max_line_bytes = 0;
  CHECK(validate(o) == "max_line_bytes must be >= 1");
}

TEST_CASE("curate: a line over max_line_bytes stops the run, naming FILE:LINE",
          "[curate][limits]") {
  TempDir tmp;
  const std::string ok_line =
      R"({"messages":[{"role":"user","content":"How do I list files?"},)"
      R"({"role":"assistant","content":"Run ls in the folder you want to see."}]})";
  CurateOptions o;
  o.max_line_bytes = 2000;
  auto run = [&](const fs::path& file, const fs::path* reference = nullptr) {
    Curator c(o);
    if (reference) {
      auto s = c.add_reference(*reference);
      if (!s) return s;
    }
    std::ostringstream t, e, r;
    return c.run({src("in", file)}, t, e, r);
  };

  // A line of exactly the limit is fine, one byte more is not: line 3 of three.
  const auto file = tmp.path / "data.jsonl";
  std::ofstream(file) << ok_line << "\n"
                      << std::string(2000, 'x') << "\n"
                      << std::string(2001, 'x') << "\n";
  auto s = run(file);
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.message() == "input 'in': " + file.string() +
                           ":3: line is longer than 2000 bytes (max_line_bytes): a JSONL file "
                           "holds one record per line; check that this is JSONL, or split the "
                           "record");

  // No newline at all (before: read into memory whole, however big): stops at line 1 after the
  // limit, in a file far longer than the reader's buffer.
  const auto flat = tmp.path / "flat.jsonl";
  std::ofstream(flat) << std::string(3 << 20, '{');
  o.max_line_bytes = 1 << 20;
  s = run(flat);
  REQUIRE_FALSE(s.is_ok());
  CHECK_THAT(s.message(), Catch::StartsWith("input 'in': " + flat.string() +
                                            ":1: line is longer "
                                            "than 1048576 bytes"));

  // The decontamination reference is read the same way.
  const auto good = tmp.path / "good.jsonl";
  std::ofstream(good) << ok_line << "\n";
  o.max_line_bytes = 2000;
  s = run(good, &file);
  REQUIRE_FALSE(s.is_ok());
  CHECK_THAT(s.message(), Catch::StartsWith("decontamination reference " + file.string() + ":3: "));
  CHECK(run(good).is_ok());
}

TEST_CASE("cli: a pipeline generates and curates with the real plugins", "[curate][cli]") {
  const fs::path bin = fs::path(LLMOPS_BINARY_DIR) / "cli" / "llmops";
  const fs::path plugins = LLMOPS_PLUGIN_BUILD_DIR;
  if (!fs::exists(bin) || !fs::exists(plugins / "llmops-plugin-curator-jsonl.so") ||
      !fs::exists(plugins / "llmops-plugin-curator-synthetic-tasks.so")) {
    WARN("llmops or the curator plugins are not built; skipping");
    return;
  }
  TempDir tmp;
  std::ofstream(tmp.path / "p.yaml") << R"(apiVersion: llmops/v1
kind: Pipeline
name: curate-demo
steps:
  base:
    uses: curator/synthetic-tasks
    with: {seed: 3, count: 300}
  prod:
    uses: curator/synthetic-tasks
    with: {seed: 4, count: 100, scenario: production-shift}
  curate:
    uses: curator/jsonl
    with: {weights: {prod: 2}, topic_keywords: [task]}
    inputs:
      base: ${{ steps.base.outputs.dataset }}
      prod: ${{ steps.prod.outputs.dataset }}
)";
  const std::string cmd = "cd " + tmp.path.string() +
                          " && LLMOPS_HOME=" + (tmp.path / "home").string() + " " + bin.string() +
                          " run p.yaml > out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(tmp.path / "out.txt");
  std::stringstream ss;
  ss << log.rdbuf();
  INFO(ss.str());
  CHECK(rc == 0);
}
