// Fire-time computation for CronSpec, and ISO-8601 helpers.
//
// The search walks the zone's UTC-offset periods (date::sys_info) in order. Inside one period local
// time is UTC plus a constant, so the next matching local minute is found field by field. At the
// period boundaries the DST rules of tests/data/cron/README.md (cronie's) apply: a wildcard job
// simply sees the local times that exist (skipping a gap, firing on both passes of an overlap); a
// fixed-time job fires at the first instant after a gap if any of its times fell inside it, and
// ignores the second pass of an overlap.
#include "engine/triggers/cron.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include <date/date.h>
#include <date/tz.h>

namespace llmops::engine {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr long long kDay = 86400;

long long floor_div(long long a, long long b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

constexpr long long days_from_civil(int y, unsigned m, unsigned d) {
  return date::sys_days{date::year{y} / date::month{m} / date::day{d}}.time_since_epoch().count();
}

// Supported instants: years 1..9999 (both as UTC and as local time, with a day of slack).
constexpr long long kMinSeconds = days_from_civil(1, 1, 2) * kDay;
constexpr long long kMaxSeconds = days_from_civil(9999, 12, 31) * kDay;
constexpr long long kLocalLimit = days_from_civil(10000, 1, 1) * kDay;

const date::time_zone* lookup_zone(const std::string& name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {  // date/tz reports an unknown zone by throwing
    return nullptr;
  }
}

}  // namespace

const date::time_zone* CronSpec::find_zone(const std::string& name) {
  return lookup_zone(name);
}

bool CronSpec::date_matches(int days_since_epoch) const {
  const date::sys_days sd{date::days{days_since_epoch}};
  const date::year_month_day ymd{sd};
  if (!months_[static_cast<unsigned>(ymd.month())]) return false;
  const bool dom = days_of_month_[static_cast<unsigned>(ymd.day())];
  const bool dow = days_of_week_[date::weekday{sd}.c_encoding()];
  // crontab(5): when both day fields are restricted, either one may match.
  return (dom_star_ || dow_star_) ? (dom && dow) : (dom || dow);
}

std::optional<long long> CronSpec::next_local_match(long long from, long long limit) const {
  limit = std::min(limit, kLocalLimit);
  long long t = floor_div(from + 59, 60) * 60;
  while (t < limit) {
    const long long day = floor_div(t, kDay);
    const long long sod = t - day * kDay;
    const date::sys_days sd{date::days{day}};
    const date::year_month_day ymd{sd};
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      const auto first_of_next =
          date::year_month_day{ymd.year() / ymd.month() / 1} + date::months{1};
      t = date::sys_days{first_of_next}.time_since_epoch().count() * kDay;
      continue;
    }
    if (!date_matches(static_cast<int>(day))) {
      t = (day + 1) * kDay;
      continue;
    }
    const int hour = static_cast<int>(sod / 3600);
    const int minute = static_cast<int>(sod % 3600 / 60);
    int h = hour;
    while (h < 24 && !hours_[h]) ++h;
    if (h == 24) {
      t = (day + 1) * kDay;
      continue;
    }
    if (h != hour) {
      t = day * kDay + h * 3600;
      continue;
    }
    int m = minute;
    while (m < 60 && !minutes_[m]) ++m;
    if (m == 60) {
      t = day * kDay + (h + 1) * 3600;
      continue;
    }
    t = day * kDay + h * 3600 + m * 60;
    return t < limit ? std::optional<long long>(t) : std::nullopt;
  }
  return std::nullopt;
}

std::optional<sys_seconds> CronSpec::next_after(sys_seconds after) const {
  const long long a = after.time_since_epoch().count();
  if (zone_ == nullptr || a < kMinSeconds || a >= kMaxSeconds) return std::nullopt;
  date::sys_info info = zone_->get_info(after);
  while (true) {
    const long long begin = info.begin.time_since_epoch().count();
    const long long end = info.end.time_since_epoch().count();
    const long long off = info.offset.count();
    long long prev_off = off;
    if (begin > kMinSeconds) prev_off = zone_->get_info(info.begin - seconds{1}).offset.count();

    // Local times [begin + prev_off, begin + off) were skipped: a fixed-time job due then fires
    // once, at the first instant after the gap.
    if (fixed_time_ && begin > a && off > prev_off &&
        next_local_match(begin + prev_off, begin + off)) {
      return sys_seconds{seconds{begin}};
    }
    long long from_local = std::max(a + 1, begin) + off;
    // Local times [begin + off, begin + prev_off) are a second pass: a fixed-time job ran already.
    if (fixed_time_ && off < prev_off) from_local = std::max(from_local, begin + prev_off);
    if (auto local = next_local_match(from_local, end + off)) {
      return sys_seconds{seconds{*local - off}};
    }
    if (end >= kMaxSeconds) return std::nullopt;
    info = zone_->get_info(info.end);
  }
}

std::vector<sys_seconds> CronSpec::next_n(sys_seconds after, int n) const {
  std::vector<sys_seconds> out;
  for (int i = 0; i < n; ++i) {
    auto next = next_after(after);
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

std::string format_local_iso(sys_seconds t, const std::string& timezone) {
  const date::time_zone* zone = lookup_zone(timezone);
  const long long off = zone != nullptr ? zone->get_info(t).offset.count() : 0;
  const long long local = t.time_since_epoch().count() + off;
  const long long day = floor_div(local, kDay);
  const long long sod = local - day * kDay;
  const date::year_month_day ymd{date::sys_days{date::days{day}}};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), sod / 3600, sod % 3600 / 60, sod % 60);
  std::string out = buf;
  const long long abs_off = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", off < 0 ? '-' : '+', abs_off / 3600,
                abs_off % 3600 / 60);
  out += buf;
  if (abs_off % 60 != 0) {
    std::snprintf(buf, sizeof buf, ":%02lld", abs_off % 60);
    out += buf;
  }
  return out;
}

namespace {

// Reads exactly `n` digits at `pos`.
bool read_digits(const std::string& s, size_t& pos, size_t n, int& value) {
  if (pos + n > s.size()) return false;
  value = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool expect(const std::string& s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

Result<sys_seconds> parse_iso8601(const std::string& text, const std::string& timezone) {
  const auto bad = [&](const std::string& why) -> Result<sys_seconds> {
    return Status::invalid("time '" + text + "': " + why +
                           " (expected e.g. 2026-03-08T01:30:00Z or 2026-03-08T01:30:00+02:00)");
  };
  size_t p = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!read_digits(text, p, 4, y) || !expect(text, p, '-') || !read_digits(text, p, 2, mo) ||
      !expect(text, p, '-') || !read_digits(text, p, 2, d)) {
    return bad("malformed date");
  }
  if (p >= text.size() || (text[p] != 'T' && text[p] != 't' && text[p] != ' ')) {
    return bad("missing time of day");
  }
  ++p;
  if (!read_digits(text, p, 2, h) || !expect(text, p, ':') || !read_digits(text, p, 2, mi)) {
    return bad("malformed time of day");
  }
  if (p < text.size() && text[p] == ':') {
    ++p;
    if (!read_digits(text, p, 2, s)) return bad("malformed seconds");
    if (p < text.size() && (text[p] == '.' || text[p] == ',')) {
      ++p;
      const size_t digits_start = p;
      while (p < text.size() && std::isdigit(static_cast<unsigned char>(text[p]))) ++p;
      if (p == digits_start) return bad("malformed fraction of a second");
    }
  }
  const date::year_month_day ymd{date::year{y} / date::month(static_cast<unsigned>(mo)) /
                                 date::day(static_cast<unsigned>(d))};
  if (y < 1 || !ymd.ok()) return bad("no such date");
  if (h > 23 || mi > 59 || s > 59) return bad("no such time of day");
  const long long local =
      date::sys_days{ymd}.time_since_epoch().count() * kDay + h * 3600LL + mi * 60LL + s;

  if (p == text.size()) {
    const date::time_zone* zone = lookup_zone(timezone);
    if (zone == nullptr) return Status::invalid("unknown time zone '" + timezone + "'");
    const date::local_info li = zone->get_info(date::local_seconds{seconds{local}});
    if (li.result == date::local_info::nonexistent) {
      return bad("this local time does not exist in " + timezone + " (skipped by a DST change)");
    }
    return sys_seconds{seconds{local - li.first.offset.count()}};
  }
  long long off = 0;
  if (text[p] == 'Z' || text[p] == 'z') {
    ++p;
  } else if (text[p] == '+' || text[p] == '-') {
    const int sign = text[p] == '-' ? -1 : 1;
    ++p;
    int oh = 0, om = 0;
    if (!read_digits(text, p, 2, oh)) return bad("malformed UTC offset");
    if (p < text.size()) {
      expect(text, p, ':');
      if (!read_digits(text, p, 2, om)) return bad("malformed UTC offset");
    }
    if (oh > 23 || om > 59) return bad("no such UTC offset");
    off = sign * (oh * 3600LL + om * 60LL);
  } else {
    return bad("unexpected '" + text.substr(p) + "'");
  }
  if (p != text.size()) return bad("unexpected '" + text.substr(p) + "'");
  return sys_seconds{seconds{local - off}};
}

}  // namespace llmops::engine
