// Daylight-saving behaviour (cronie's, per tests/data/cron/README.md) in several zones: fixed-time
// jobs fire once after a gap and once in an overlap; wildcard jobs skip gaps and fire on both
// passes.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/triggers/cron.hpp"

using llmops::engine::CronSpec;
using llmops::engine::format_local_iso;
using llmops::engine::parse_iso8601;

namespace {

std::vector<std::string> fires(const std::string& expr, const std::string& tz,
                               const std::string& after, int n) {
  auto spec = CronSpec::parse(expr, tz);
  REQUIRE(spec.is_ok());
  auto start = parse_iso8601(after, tz);
  REQUIRE(start.is_ok());
  std::vector<std::string> out;
  for (auto t : spec->next_n(*start, n)) out.push_back(format_local_iso(t, tz));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("cron DST: America/New_York", "[cron][dst]") {
  const std::string ny = "America/New_York";
  SECTION("fixed time in the spring gap fires once at its end") {
    CHECK(fires("30 2 * * *", ny, "2024-03-10T00:00:00-05:00", 2) ==
          V{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"});
    CHECK(fires("0,30 2 * * *", ny, "2024-03-10T00:00:00-05:00", 2) ==
          V{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"});
    // A time in the gap and the first time after it collapse into one fire.
    CHECK(fires("0 2,3 * * *", ny, "2024-03-10T00:00:00-05:00", 2) ==
          V{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"});
  }
  SECTION("wildcard times in the spring gap are skipped") {
    CHECK(fires("*/15 2 * * *", ny, "2024-03-10T01:50:00-05:00", 2) ==
          V{"2024-03-11T02:00:00-04:00", "2024-03-11T02:15:00-04:00"});
    CHECK(fires("@hourly", ny, "2024-03-10T00:30:00-05:00", 3) ==
          V{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"});
  }
  SECTION("fixed time in the autumn overlap fires on the first pass only") {
    CHECK(fires("30 1 * * *", ny, "2024-11-03T00:00:00-04:00", 2) ==
          V{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"});
    // Starting inside the second pass does not fire again that night.
    CHECK(fires("45 1 * * *", ny, "2024-11-03T01:10:00-05:00", 1) ==
          V{"2024-11-04T01:45:00-05:00"});
  }
  SECTION("wildcard times in the autumn overlap fire on both passes") {
    CHECK(fires("*/30 1 * * *", ny, "2024-11-03T00:59:00-04:00", 5) ==
          V{"2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:00:00-05:00",
            "2024-11-03T01:30:00-05:00", "2024-11-04T01:00:00-05:00"});
    CHECK(fires("0 * * * *", ny, "2024-11-03T00:00:00-04:00", 3) ==
          V{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"});
  }
}

TEST_CASE("cron DST: Europe/London", "[cron][dst]") {
  const std::string ldn = "Europe/London";
  CHECK(fires("30 1 * * *", ldn, "2024-03-30T12:00:00+00:00", 2) ==
        V{"2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"});
  CHECK(fires("*/30 * * * *", ldn, "2024-03-31T00:15:00+00:00", 3) ==
        V{"2024-03-31T00:30:00+00:00", "2024-03-31T02:00:00+01:00", "2024-03-31T02:30:00+01:00"});
  CHECK(fires("15 1 * * *", ldn, "2024-10-26T12:00:00+01:00", 2) ==
        V{"2024-10-27T01:15:00+01:00", "2024-10-28T01:15:00+00:00"});
  CHECK(fires("@hourly", ldn, "2024-10-27T00:00:00+01:00", 3) ==
        V{"2024-10-27T01:00:00+01:00", "2024-10-27T01:00:00+00:00", "2024-10-27T02:00:00+00:00"});
}

TEST_CASE("cron DST: Australia/Lord_Howe (half-hour shifts)", "[cron][dst]") {
  const std::string lh = "Australia/Lord_Howe";
  // Spring: 02:00 +10:30 jumps to 02:30 +11:00.
  CHECK(fires("15 2 * * *", lh, "2024-10-05T12:00:00+10:30", 2) ==
        V{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"});
  CHECK(fires("45 2 * * *", lh, "2024-10-05T12:00:00+10:30", 1) == V{"2024-10-06T02:45:00+11:00"});
  CHECK(fires("*/20 * * * *", lh, "2024-10-06T01:50:00+10:30", 2) ==
        V{"2024-10-06T02:40:00+11:00", "2024-10-06T03:00:00+11:00"});
  // Autumn: 02:00 +11:00 falls back to 01:30 +10:30.
  CHECK(fires("45 1 * * *", lh, "2024-04-06T12:00:00+11:00", 2) ==
        V{"2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"});
  CHECK(fires("*/15 1 * * *", lh, "2024-04-07T01:20:00+11:00", 5) ==
        V{"2024-04-07T01:30:00+11:00", "2024-04-07T01:45:00+11:00", "2024-04-07T01:30:00+10:30",
          "2024-04-07T01:45:00+10:30", "2024-04-08T01:00:00+10:30"});
}

TEST_CASE("cron: Asia/Kolkata (no DST, half-hour offset)", "[cron][dst]") {
  const std::string in = "Asia/Kolkata";
  CHECK(fires("0 9 * * *", in, "2024-06-01T00:00:00Z", 2) ==
        V{"2024-06-01T09:00:00+05:30", "2024-06-02T09:00:00+05:30"});
  CHECK(fires("30 */6 * * *", in, "2024-06-01T05:00:00+05:30", 3) ==
        V{"2024-06-01T06:30:00+05:30", "2024-06-01T12:30:00+05:30", "2024-06-01T18:30:00+05:30"});
  auto spec = CronSpec::parse("0 0 * * *", in);
  REQUIRE(spec.is_ok());
  auto t = spec->next_after(*parse_iso8601("2024-01-01T00:00:00Z"));
  REQUIRE(t);
  CHECK(*t == *parse_iso8601("2024-01-01T18:30:00Z"));
}

TEST_CASE("cron DST: Pacific/Apia skipped a whole day", "[cron][dst]") {
  const std::string apia =
      "Pacific/Apia";  // 2011-12-29 23:59:59 -10 was followed by 12-31 00:00 +14
  CHECK(fires("0 12 * * *", apia, "2011-12-29T00:00:00-10:00", 3) ==
        V{"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"});
  CHECK(fires("0 0,12 * * *", apia, "2011-12-29T00:00:00-10:00", 3) ==
        V{"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"});
  CHECK(fires("0 */12 * * *", apia, "2011-12-29T00:00:00-10:00", 3) ==
        V{"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"});
  CHECK(fires("0 6 * * *", apia, "2011-12-29T12:00:00-10:00", 1) == V{"2011-12-31T00:00:00+14:00"});
  CHECK(fires("0 */6 * * *", apia, "2011-12-29T12:00:00-10:00", 1) ==
        V{"2011-12-29T18:00:00-10:00"});
}
