// `watch:` entries of `schedule:` as the loader reads them, and their errors at line:col.
#include <catch2/catch.hpp>

#include "engine/spec/loader.hpp"

using namespace llmops::engine;

namespace {

const std::string kHead =
    "apiVersion: llmops/v1\nkind: Pipeline\nname: p\nsteps:\n  a:\n    uses: testing/noop\n";

std::vector<std::string> errors(const std::string& schedule) {
  auto r = load_pipeline_text(kHead + schedule, "p.yaml", {}, false);
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(d.str());
  return out;
}

}  // namespace

TEST_CASE("watch entries: the short and the long form", "[watch][loader]") {
  auto r = load_pipeline_text(kHead + R"(schedule:
  - name: incoming
    watch: {glob: ["data/in/*.jsonl", "data/extra/**/*.csv"], poll: 10s, settle: 1m}
    concurrency: forbid
    params: {}
  - watch: "data/*.txt"
  - cron: "@daily"
)",
                              "p.yaml", {}, false);
  CHECK(r.diagnostics.empty());
  REQUIRE(r.ok());
  const auto& s = r.spec->schedules;
  REQUIRE(s.size() == 3);
  REQUIRE(s[0].is_watch());
  CHECK(s[0].id == "p/incoming");
  CHECK(s[0].watch->globs == std::vector<std::string>{"data/in/*.jsonl", "data/extra/**/*.csv"});
  CHECK(s[0].watch->poll_s == 10);
  CHECK(s[0].watch->settle_s == 60);
  CHECK(s[0].concurrency == ConcurrencyPolicy::kForbid);
  CHECK_FALSE(s[0].cron);
  REQUIRE(s[1].is_watch());
  CHECK(s[1].watch->globs == std::vector<std::string>{"data/*.txt"});
  CHECK(s[1].watch->poll_s == 60);  // the default
  CHECK(s[1].watch->settle_s == 0);
  CHECK_FALSE(s[2].is_watch());
  CHECK(s[2].cron);
}

TEST_CASE("watch entries: every mistake at its line and column", "[watch][loader]") {
  auto e = errors(R"(schedule:
  - watch: {glob: "data/in[coming/*.jsonl", poll: 500ms}
    catchup: all
  - watch:
      glob: ["ok/*.txt", "data/a**/x", "dir/"]
      settle: soon
      every: 1m
  - cron: "@daily"
    watch: "x/*"
  - watch: {poll: 5s}
  - watch: [a, b]
  - watch: "data/**"
  - watch: {glob: [], poll: 8d}
)");
  const std::vector<std::string> want = {
      "p.yaml:8:27: error: 'watch' of entry 1 of 'schedule': glob 'data/in[coming/*.jsonl': "
      "unclosed '[' (write \\[ for a literal bracket)",
      "p.yaml:8:51: error: 'poll' in 'watch' of entry 1 of 'schedule' must be at least 1s, got "
      "500ms",
      "p.yaml:9:5: error: 'catchup' applies to cron entries only; entry 1 of 'schedule' is a "
      "'watch' entry (it starts a run when its files change)",
      "p.yaml:11:33: error: 'watch' of entry 2 of 'schedule': glob 'data/a**/x': '**' must be a "
      "whole path part, as in data/**/*.jsonl",
      "p.yaml:11:44: error: 'watch' of entry 2 of 'schedule': glob 'dir/': ends with '/': the "
      "last part must name files, e.g. data/incoming/*.jsonl",
      "p.yaml:12:15: error: invalid duration 'soon' for 'settle' in 'watch' of entry 2 of "
      "'schedule': write a positive duration such as 500ms, 30s, 1.5m, 2h, 1h30m or 1d",
      "p.yaml:13:7: error: unknown key 'every' in 'watch' of entry 2 of 'schedule'; expected one "
      "of: glob, poll, settle",
      "p.yaml:15:5: error: entry 3 of 'schedule' has both 'cron' and 'watch': give one (two "
      "entries can use one each)",
      "p.yaml:16:12: error: 'watch' of entry 4 of 'schedule' needs 'glob' (files such as "
      "data/incoming/*.jsonl)",
      "p.yaml:17:12: error: 'watch' of entry 5 of 'schedule' must be a glob "
      "(\"data/incoming/*.jsonl\") or a mapping {glob, poll, settle}, got a list",
      "p.yaml:18:18: error: 'watch' of entry 6 of 'schedule': glob 'data/**': the last part must "
      "name files, not '**' (write **/*.jsonl)",
      "p.yaml:19:19: error: 'glob' in 'watch' of entry 7 of 'schedule' is an empty list: give a "
      "glob",
      "p.yaml:19:29: error: 'poll' in 'watch' of entry 7 of 'schedule' must be at most 7d, got 8d",
  };
  CHECK(e == want);
}
