// CronSpec: a parsed cron schedule in an IANA time zone, and the next times it fires.
//
// The grammar and the daylight-saving behaviour are those of tests/data/cron/README.md (crontab(5)
// five-field expressions plus @yearly..@hourly macros; DST handled as cronie does it). Parsing
// rejects anything that README does not allow, including expressions that can never fire ("0 0 30 2
// *"). Time zones come from the OS tz database through Howard Hinnant's date/tz; beyond the last
// transition stored in the zone file (2037 in Debian's "fat" files) the last offset holds.
// The engine owns the scheduler that calls this; a CronSpec only computes, it never reads a clock.
// Thread safety: an immutable value; copy freely and call const members from any thread.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace date {
class time_zone;
}

namespace llmops::engine {

class CronSpec {
 public:
  // Parses `expr` in time zone `timezone` (an IANA name such as "Europe/London"; "UTC" by default).
  // On error returns Status::invalid saying what is wrong; `*error_offset` (when given) is set to
  // the 0-based character offset in `expr` of the offending field, or to std::string::npos when the
  // expression is fine and the time zone is the problem (unknown zone name).
  static Result<CronSpec> parse(const std::string& expr, const std::string& timezone = "UTC",
                                size_t* error_offset = nullptr);

  // The first fire time strictly after `after`. nullopt only outside years 1..9999.
  std::optional<std::chrono::sys_seconds> next_after(std::chrono::sys_seconds after) const;
  // The next `n` fire times strictly after `after`, in order (fewer only at the end of year 9999).
  std::vector<std::chrono::sys_seconds> next_n(std::chrono::sys_seconds after, int n) const;

  const std::string& expression() const { return expression_; }
  const std::string& timezone() const { return timezone_; }
  // True when neither the minute nor the hour field starts with '*' (cronie's "fixed-time" job):
  // such a job fires once at the end of a skipped DST interval and once in a repeated one.
  bool fixed_time() const { return fixed_time_; }

 private:
  CronSpec() = default;
  // nullptr for an unknown zone name.
  static const date::time_zone* find_zone(const std::string& name);
  // Does the local civil date (days since 1970-01-01) pass the month and day fields?
  bool date_matches(int days_since_epoch) const;
  // The first matching local minute (seconds since the local epoch) in [from, limit), if any.
  std::optional<long long> next_local_match(long long from, long long limit) const;

  std::string expression_;
  std::string timezone_;
  const date::time_zone* zone_ = nullptr;  // owned by the process-wide tz database
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bits 1..31
  std::bitset<13> months_;         // bits 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday (7 is folded onto 0)
  bool dom_star_ = false;          // field was exactly "*"
  bool dow_star_ = false;
  bool fixed_time_ = false;
};

// `t` as local time in `timezone` with its UTC offset: "2026-03-08T03:00:00-04:00". An offset with
// seconds (historical local mean time) prints as "+HH:MM:SS". An unknown zone formats in UTC.
std::string format_local_iso(std::chrono::sys_seconds t, const std::string& timezone);

// Parses "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z", "+HH:MM", "+HHMM", "+HH" or nothing;
// without an offset the time is local to `timezone` (a repeated local time means its first pass; a
// skipped one is an error). A space may stand for the 'T'; fractions of a second are dropped.
Result<std::chrono::sys_seconds> parse_iso8601(const std::string& text,
                                               const std::string& timezone = "UTC");

}  // namespace llmops::engine
