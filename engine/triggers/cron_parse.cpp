// Parsing of cron expressions: the grammar of tests/data/cron/README.md (crontab(5) as cronie reads
// it), written by hand because no well-kept C++ library implements cronie's exact rules (names in
// ranges, bare "N/step", "*"-only meaning unrestricted, errors with the offending field's offset).
#include <array>
#include <cctype>
#include <string_view>

#include <date/tz.h>

#include "engine/triggers/cron.hpp"

namespace llmops::engine {
namespace {

struct FieldDef {
  const char* name;
  int min;
  int max;
  const std::array<const char*, 12>* names;  // nullptr when the field takes numbers only
  int name_base;                             // value of names[0]
};

constexpr std::array<const char*, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 12> kDayNames = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr, nullptr, nullptr, nullptr, nullptr};

// Weekday 7 is accepted as Sunday and folded onto 0 after parsing.
const std::array<FieldDef, 5> kFields = {{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, &kMonthNames, 1},
    {"day-of-week", 0, 7, &kDayNames, 0},
}};

struct Token {
  size_t offset;
  std::string_view text;
};

struct Macro {
  const char* name;
  const char* expansion;
};

constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

std::vector<Token> split_fields(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back({start, s.substr(start, i - start)});
  }
  return out;
}

// A number or (for month and weekday) a three-letter name, case-insensitive.
std::optional<int> parse_value(std::string_view t, const FieldDef& def, std::string* err) {
  if (t.empty()) {
    *err = "a number is missing";
    return std::nullopt;
  }
  if (std::isdigit(static_cast<unsigned char>(t[0]))) {
    long long v = 0;
    for (char c : t) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        *err = "'" + std::string(t) + "' is not a number";
        return std::nullopt;
      }
      if (v < 1000000) v = v * 10 + (c - '0');
    }
    if (v < def.min || v > def.max) {
      *err = std::string(t) + " is out of range " + std::to_string(def.min) + "-" +
             std::to_string(def.max);
      return std::nullopt;
    }
    return static_cast<int>(v);
  }
  if (def.names != nullptr && t.size() == 3) {
    std::string lower;
    for (char c : t) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t i = 0; i < def.names->size(); ++i) {
      if ((*def.names)[i] != nullptr && lower == (*def.names)[i]) {
        return def.name_base + static_cast<int>(i);
      }
    }
  }
  *err = def.names != nullptr
             ? "'" + std::string(t) + "' is not a number or a " + std::string(def.name) +
                   " name (like " + std::string((*def.names)[1]) + ")"
             : "'" + std::string(t) + "' is not a number";
  return std::nullopt;
}

// One list element: "*", "N", "A-B", each optionally "/step"; a bare "N/step" means "N-max/step".
bool parse_element(std::string_view el, const FieldDef& def, std::bitset<64>& bits,
                   std::string* err) {
  if (el.empty()) {
    *err = "empty list element";
    return false;
  }
  const size_t slash = el.find('/');
  const std::string_view base = el.substr(0, slash);
  int step = 1;
  if (slash != std::string_view::npos) {
    const std::string_view st = el.substr(slash + 1);
    if (st.empty()) {
      *err = "step after '/' is missing";
      return false;
    }
    long long v = 0;
    for (char c : st) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        *err = "step '" + std::string(st) + "' is not a number";
        return false;
      }
      if (v < 1000000) v = v * 10 + (c - '0');
    }
    if (v == 0) {
      *err = "step must be at least 1";
      return false;
    }
    if (v > def.max - def.min + 1) {
      *err = "step " + std::string(st) + " is larger than the range " + std::to_string(def.min) +
             "-" + std::to_string(def.max);
      return false;
    }
    step = static_cast<int>(v);
  }
  int lo = def.min;
  int hi = def.max;
  if (base != "*") {
    const size_t dash = base.find('-');
    auto a = parse_value(base.substr(0, dash), def, err);
    if (!a) return false;
    lo = *a;
    hi = slash != std::string_view::npos ? def.max : lo;
    if (dash != std::string_view::npos) {
      auto b = parse_value(base.substr(dash + 1), def, err);
      if (!b) return false;
      hi = *b;
      // "sat-sun": Sunday closes a weekday range as 7.
      if (def.names == &kDayNames && hi == 0 && lo > 0) hi = 7;
      if (lo > hi) {
        *err = "range " + std::string(base) + " runs backwards (its start is after its end)";
        return false;
      }
    }
  }
  for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v));
  return true;
}

bool parse_field(std::string_view text, const FieldDef& def, std::bitset<64>& bits,
                 std::string* err) {
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    if (!parse_element(text.substr(start, comma - start), def, bits, err)) return false;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

template <size_t N>
std::bitset<N> narrow(const std::bitset<64>& b) {
  std::bitset<N> out;
  for (size_t i = 0; i < N; ++i) out[i] = b[i];
  return out;
}

constexpr std::array<int, 13> kMaxDaysInMonth = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

}  // namespace

Result<CronSpec> CronSpec::parse(const std::string& expr, const std::string& timezone,
                                 size_t* error_offset) {
  size_t scratch = 0;
  size_t& off = error_offset != nullptr ? *error_offset : scratch;
  auto fail = [&](size_t at, std::string msg) -> Result<CronSpec> {
    off = at;
    return Status::invalid("cron expression '" + expr + "': " + msg);
  };

  std::vector<Token> tokens = split_fields(expr);
  if (tokens.empty()) return fail(0, "the expression is empty");

  std::string expanded;
  std::vector<size_t> field_offsets;  // where each of the five fields starts in `expr`
  std::vector<Token> fields;
  if (tokens[0].text[0] == '@') {
    const Macro* macro = nullptr;
    for (const Macro& m : kMacros) {
      if (tokens[0].text == m.name) macro = &m;
    }
    if (macro == nullptr) {
      if (tokens[0].text == "@reboot") {
        return fail(tokens[0].offset,
                    "@reboot is not supported: a schedule needs times (use e.g. @daily)");
      }
      return fail(tokens[0].offset, "unknown macro '" + std::string(tokens[0].text) +
                                        "' (known: @yearly, @annually, @monthly, @weekly, "
                                        "@daily, @midnight, @hourly)");
    }
    if (tokens.size() > 1) {
      return fail(tokens[1].offset, "a macro like " + std::string(macro->name) +
                                        " stands alone; nothing may follow it");
    }
    expanded = macro->expansion;
    fields = split_fields(expanded);
    field_offsets.assign(fields.size(), tokens[0].offset);
  } else {
    if (tokens.size() < 5) {
      const Token& last = tokens.back();
      return fail(last.offset + last.text.size(),
                  "expected 5 fields (minute hour day-of-month month day-of-week), found " +
                      std::to_string(tokens.size()));
    }
    if (tokens.size() > 5) {
      return fail(tokens[5].offset,
                  "expected 5 fields (minute hour day-of-month month day-of-week), found " +
                      std::to_string(tokens.size()) +
                      "; six-field forms (seconds or year) are not supported");
    }
    fields = tokens;
    for (const Token& t : tokens) field_offsets.push_back(t.offset);
  }

  std::array<std::bitset<64>, 5> bits;
  for (size_t i = 0; i < 5; ++i) {
    std::string err;
    if (!parse_field(fields[i].text, kFields[i], bits[i], &err)) {
      return fail(field_offsets[i], std::string(kFields[i].name) + " field '" +
                                        std::string(fields[i].text) + "': " + err);
    }
  }

  CronSpec spec;
  spec.expression_ = expr;
  spec.timezone_ = timezone;
  spec.minutes_ = narrow<60>(bits[0]);
  spec.hours_ = narrow<24>(bits[1]);
  spec.days_of_month_ = narrow<32>(bits[2]);
  spec.months_ = narrow<13>(bits[3]);
  spec.days_of_week_ = narrow<7>(bits[4]);
  if (bits[4][7]) spec.days_of_week_.set(0);
  spec.dom_star_ = fields[2].text == "*";
  spec.dow_star_ = fields[4].text == "*";
  spec.fixed_time_ = fields[0].text[0] != '*' && fields[1].text[0] != '*';

  // With the weekday field "*", only the day of month picks days: some chosen month must have one
  // of them, or the job never fires. (A restricted weekday fires every week, alone or OR-ed.)
  if (!spec.dom_star_ && spec.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!spec.months_[m]) continue;
      for (int d = 1; d <= kMaxDaysInMonth[m] && !possible; ++d) possible = spec.days_of_month_[d];
    }
    if (!possible) {
      return fail(field_offsets[2], "day-of-month field '" + std::string(fields[2].text) +
                                        "' names no day that exists in month field '" +
                                        std::string(fields[3].text) + "': it would never fire");
    }
  }

  spec.zone_ = find_zone(timezone);
  if (spec.zone_ == nullptr) {
    off = std::string::npos;
    return Status::invalid("unknown time zone '" + timezone +
                           "' (use an IANA name such as 'UTC' or 'Europe/London')");
  }
  return spec;
}

}  // namespace llmops::engine
