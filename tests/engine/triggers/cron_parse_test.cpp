// Cron grammar (tests/data/cron/README.md): what parses, what it means, and what is rejected with
// which error offset (the validator turns the offset into FILE:LINE:COL).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/triggers/cron.hpp"

using llmops::engine::CronSpec;
using llmops::engine::format_local_iso;
using llmops::engine::parse_iso8601;

namespace {

std::vector<std::string> utc_fires(const std::string& expr, const std::string& after, int n) {
  auto spec = CronSpec::parse(expr);
  INFO(spec.status().message());
  REQUIRE(spec.is_ok());
  std::vector<std::string> out;
  for (auto t : spec->next_n(*parse_iso8601(after), n)) out.push_back(format_local_iso(t, "UTC"));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("cron grammar: accepted forms and their meaning", "[cron][parse]") {
  CHECK(utc_fires("5/15 * * * *", "2024-01-01T00:00:00Z", 4) ==
        V{"2024-01-01T00:05:00+00:00", "2024-01-01T00:20:00+00:00", "2024-01-01T00:35:00+00:00",
          "2024-01-01T00:50:00+00:00"});
  CHECK(utc_fires("0 0 * JAN,Jul *", "2024-01-31T00:00:00Z", 2) ==
        V{"2024-07-01T00:00:00+00:00", "2024-07-02T00:00:00+00:00"});
  // Weekday 0 and 7 are both Sunday; "fri-sun" wraps onto 7.
  CHECK(utc_fires("0 0 * * 0", "2024-01-01T00:00:00Z", 1) ==
        utc_fires("0 0 * * 7", "2024-01-01T00:00:00Z", 1));
  CHECK(utc_fires("0 0 * * fri-sun", "2024-01-01T00:00:00Z", 3) ==
        V{"2024-01-05T00:00:00+00:00", "2024-01-06T00:00:00+00:00", "2024-01-07T00:00:00+00:00"});
  // "mon/2" means mon-7/2: Monday, Wednesday, Friday, Sunday.
  CHECK(utc_fires("0 0 * * mon/2", "2024-01-01T00:00:00Z", 4) ==
        V{"2024-01-03T00:00:00+00:00", "2024-01-05T00:00:00+00:00", "2024-01-07T00:00:00+00:00",
          "2024-01-08T00:00:00+00:00"});
  CHECK(utc_fires("  0\t12  * * *  ", "2024-01-01T00:00:00Z", 1) == V{"2024-01-01T12:00:00+00:00"});
  CHECK(utc_fires("*,30 0 1 1 *", "2024-01-01T00:59:00Z", 1) == V{"2025-01-01T00:00:00+00:00"});
}

TEST_CASE("cron grammar: macros", "[cron][parse]") {
  const std::string after = "2024-05-15T10:20:00Z";
  CHECK(utc_fires("@yearly", after, 1) == V{"2025-01-01T00:00:00+00:00"});
  CHECK(utc_fires("@annually", after, 1) == V{"2025-01-01T00:00:00+00:00"});
  CHECK(utc_fires("@monthly", after, 1) == V{"2024-06-01T00:00:00+00:00"});
  CHECK(utc_fires("@weekly", after, 1) == V{"2024-05-19T00:00:00+00:00"});
  CHECK(utc_fires("@daily", after, 1) == V{"2024-05-16T00:00:00+00:00"});
  CHECK(utc_fires("@midnight", after, 1) == V{"2024-05-16T00:00:00+00:00"});
  CHECK(utc_fires("@hourly", after, 1) == V{"2024-05-15T11:00:00+00:00"});
  CHECK(CronSpec::parse("@daily")->fixed_time());
  CHECK_FALSE(CronSpec::parse("@hourly")->fixed_time());
}

TEST_CASE("cron grammar: day of month OR day of week only when both restricted", "[cron][parse]") {
  // "*/2" is restricted, so it is OR-ed with the weekday.
  CHECK(utc_fires("0 0 */10 * mon", "2024-01-01T00:00:00Z", 3) ==
        V{"2024-01-08T00:00:00+00:00", "2024-01-11T00:00:00+00:00", "2024-01-15T00:00:00+00:00"});
  // Weekday "*" leaves the day of month alone in charge.
  CHECK(utc_fires("0 0 13 * *", "2024-01-01T00:00:00Z", 1) == V{"2024-01-13T00:00:00+00:00"});
  // Day of month "*" leaves the weekday alone in charge.
  CHECK(utc_fires("0 0 * * fri", "2024-09-01T00:00:00Z", 1) == V{"2024-09-06T00:00:00+00:00"});
  // Feb 30 never exists, but Mondays in February do.
  CHECK(utc_fires("0 0 30 2 mon", "2024-01-01T00:00:00Z", 1) == V{"2024-02-05T00:00:00+00:00"});
  // Rare but possible: Feb 29 skips 2100.
  CHECK(utc_fires("0 0 29 2 *", "2096-03-01T00:00:00Z", 1) == V{"2104-02-29T00:00:00+00:00"});
  CHECK(utc_fires("0 0 31 2,3 *", "2024-01-01T00:00:00Z", 1) == V{"2024-03-31T00:00:00+00:00"});
}

TEST_CASE("cron grammar: rejected expressions and their offsets", "[cron][parse]") {
  struct Bad {
    std::string expr;
    size_t offset;
  };
  const std::vector<Bad> bad = {
      {"", 0},
      {"   ", 0},
      {"60 * * * *", 0},
      {"0 24 * * *", 2},
      {"0 0 0 * *", 4},
      {"0 0 32 * *", 4},
      {"0 0 * 13 *", 6},
      {"0 0 * 0 *", 6},
      {"0 0 * * 8", 8},
      {"0 0 * * foo", 8},
      {"0 0 * jan-foo *", 6},
      {"0 0 * * monday", 8},
      {"0 jan * * *", 2},
      {"5-1 * * * *", 0},
      {"*/0 * * * *", 0},
      {"*/ * * * *", 0},
      {"*/61 * * * *", 0},
      {"1,,2 * * * *", 0},
      {"1, * * * *", 0},
      {"-5 * * * *", 0},
      {"1-2-3 * * * *", 0},
      {"? * * * *", 0},
      {"0 0 L * *", 4},
      {"0 0 * * 5#3", 8},
      {"99999999999999999999 * * * *", 0},
      {"* * * *", 7},
      {"  * * * *  ", 9},
      {"0 * * * * *", 10},
      {"0 0 12 * * 2024", 11},
      {"@reboot", 0},
      {"  @every 5m", 2},
      {"@daily 0", 7},
      {"@DAILY", 0},
      {"0 0 30 2 *", 4},
      {"0 0 31 4,6,9,11 *", 4},
      {"* * 31 2 *", 4},
      {"0 0 30-31 feb *", 4},
  };
  for (const Bad& b : bad) {
    INFO("expr '" << b.expr << "'");
    size_t offset = 9999;
    auto spec = CronSpec::parse(b.expr, "UTC", &offset);
    REQUIRE_FALSE(spec.is_ok());
    CHECK(spec.status().code() == llmops::StatusCode::kInvalidArgument);
    CHECK(offset == b.offset);
    CHECK_FALSE(spec.status().message().empty());
  }
}

TEST_CASE("cron grammar: error messages say what is wrong", "[cron][parse]") {
  auto msg = [](const std::string& e) { return CronSpec::parse(e).status().message(); };
  CHECK_THAT(msg("0 0 * * 8"), Catch::Contains("day-of-week") && Catch::Contains("out of range"));
  CHECK_THAT(msg("0 0 30 2 *"), Catch::Contains("never fire"));
  CHECK_THAT(msg("5-1 * * * *"), Catch::Contains("backwards"));
  CHECK_THAT(msg("@reboot"), Catch::Contains("@reboot"));
  CHECK_THAT(msg("0 * * * * *"), Catch::Contains("5 fields"));
}

TEST_CASE("cron: time zones", "[cron][parse]") {
  size_t offset = 0;
  auto spec = CronSpec::parse("0 0 * * *", "Mars/Olympus_Mons", &offset);
  REQUIRE_FALSE(spec.is_ok());
  CHECK_THAT(spec.status().message(), Catch::Contains("Mars/Olympus_Mons"));
  CHECK(offset == std::string::npos);
  CHECK_FALSE(CronSpec::parse("0 0 * * *", "").is_ok());
  auto ok = CronSpec::parse("0 0 * * *", "Europe/Paris");
  REQUIRE(ok.is_ok());
  CHECK(ok->expression() == "0 0 * * *");
  CHECK(ok->timezone() == "Europe/Paris");
}

TEST_CASE("cron: next_after is strictly after and next_n is ordered", "[cron]") {
  auto spec = CronSpec::parse("*/5 * * * *");
  REQUIRE(spec.is_ok());
  auto at = *parse_iso8601("2024-01-01T00:05:00Z");
  CHECK(*spec->next_after(at) == *parse_iso8601("2024-01-01T00:10:00Z"));
  CHECK(*spec->next_after(at - std::chrono::seconds{1}) == at);
  CHECK(spec->next_n(at, 0).empty());
  CHECK(spec->next_n(at, -3).empty());
  auto many = spec->next_n(at, 500);
  REQUIRE(many.size() == 500);
  for (size_t i = 1; i < many.size(); ++i) CHECK(many[i] - many[i - 1] == std::chrono::minutes{5});
  // Outside years 1..9999 there is no answer rather than an overflow.
  CHECK_FALSE(spec->next_after(std::chrono::sys_seconds::max()));
  CHECK_FALSE(spec->next_after(std::chrono::sys_seconds::min()));
  CHECK_FALSE(CronSpec::parse("0 0 1 1 *")->next_after(*parse_iso8601("9999-06-01T00:00:00Z")));
}

TEST_CASE("cron: ISO-8601 parsing and formatting", "[cron][iso]") {
  auto utc = *parse_iso8601("2026-03-08T01:30:00Z");
  CHECK(parse_iso8601("2026-03-08T03:30:00+02:00").value() == utc);
  CHECK(parse_iso8601("2026-03-08T03:30:00+0200").value() == utc);
  CHECK(parse_iso8601("2026-03-08T03:30+02").value() == utc);
  CHECK(parse_iso8601("2026-03-08 01:30:00.750Z").value() == utc);
  CHECK(parse_iso8601("2026-03-07T20:30:00", "America/New_York").value() == utc);
  CHECK(parse_iso8601("2026-03-08T01:30:00").value() == utc);
  CHECK(format_local_iso(utc, "UTC") == "2026-03-08T01:30:00+00:00");
  CHECK(format_local_iso(utc, "America/New_York") == "2026-03-07T20:30:00-05:00");
  CHECK(format_local_iso(utc, "Asia/Kolkata") == "2026-03-08T07:00:00+05:30");
  CHECK(format_local_iso(utc, "No/Such_Zone") == "2026-03-08T01:30:00+00:00");
  // A repeated local time means its first pass; a skipped one is an error.
  CHECK(format_local_iso(*parse_iso8601("2024-11-03T01:30:00", "America/New_York"),
                         "America/New_York") == "2024-11-03T01:30:00-04:00");
  CHECK_FALSE(parse_iso8601("2024-03-10T02:30:00", "America/New_York").is_ok());
  for (const char* bad : {"", "2026-03-08", "2026-02-30T00:00:00Z", "2026-03-08T24:00:00Z",
                          "2026-03-08T01:30:00+25:00", "2026-03-08T01:30:00 UTC", "26-03-08T01:30Z",
                          "2026-03-08T01:30:00Zjunk", "0000-01-01T00:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_iso8601(bad).is_ok());
  }
  CHECK_FALSE(parse_iso8601("2026-03-08T01:30:00", "Nowhere/Land").is_ok());
}
