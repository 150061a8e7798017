// Every case of tests/data/cron/cases.json (copied from the shared cron fixtures) must pass.
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engine/triggers/cron.hpp"

using llmops::engine::CronSpec;
using llmops::engine::format_local_iso;
using llmops::engine::parse_iso8601;

namespace {

nlohmann::json load_cases() {
  std::ifstream in(LLMOPS_SOURCE_DIR "/tests/data/cron/cases.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("cron fixtures: every case of cases.json", "[cron][fixtures]") {
  const nlohmann::json cases = load_cases();
  REQUIRE(cases.is_array());
  REQUIRE(cases.size() >= 26);
  for (const auto& c : cases) {
    const std::string expr = c.at("expr");
    const std::string tz = c.at("tz");
    INFO("expr '" << expr << "' in " << tz << " after " << c.at("after").get<std::string>());
    auto after = parse_iso8601(c.at("after"), tz);
    REQUIRE(after.is_ok());
    size_t offset = 12345;
    auto spec = CronSpec::parse(expr, tz, &offset);
    if (c.value("error", false)) {
      REQUIRE_FALSE(spec.is_ok());
      CHECK(spec.status().code() == llmops::StatusCode::kInvalidArgument);
      CHECK(offset <= expr.size());
      continue;
    }
    REQUIRE(spec.is_ok());
    const auto& expected = c.at("next");
    const auto got = spec->next_n(*after, static_cast<int>(expected.size()));
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const std::string want = expected[i];
      CHECK(format_local_iso(got[i], tz) == want);
      auto want_instant = parse_iso8601(want, tz);
      REQUIRE(want_instant.is_ok());
      CHECK(got[i] == *want_instant);
    }
  }
}
