#include "plugins/common/pii.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace llmops::common {

namespace {

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_alnum(char c) {
  return is_digit(c) || is_alpha(c);
}
inline bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_token(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}
inline bool is_email_local(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

struct Span {
  size_t begin, end;
};

// Applies one scanner: `find(s, i)` returns the next span at or after i, or {npos, npos}.
template <typename Find>
std::string replace_all(std::string_view s, const char* placeholder, int64_t& count, Find find) {
  std::string out;
  size_t i = 0, copied = 0;
  while (i < s.size()) {
    Span sp = find(s, i);
    if (sp.begin == std::string_view::npos) break;
    if (out.empty()) out.reserve(s.size());
    out.append(s.substr(copied, sp.begin - copied));
    out += placeholder;
    ++count;
    copied = i = sp.end;
  }
  if (copied == 0) return std::string(s);
  out.append(s.substr(copied));
  return out;
}

Span find_email(std::string_view s, size_t from) {
  for (size_t at = s.find('@', from); at != std::string_view::npos; at = s.find('@', at + 1)) {
    size_t b = at;
    while (b > from && is_email_local(s[b - 1])) --b;
    while (b < at && (s[b] == '.' || s[b] == '-')) ++b;
    if (b == at) continue;
    size_t e = at + 1, last_dot = 0;
    while (e < s.size() && (is_alnum(s[e]) || s[e] == '-' || s[e] == '.')) {
      if (s[e] == '.') last_dot = e;
      ++e;
    }
    while (e > at + 1 && (s[e - 1] == '.' || s[e - 1] == '-')) {
      if (s[e - 1] == '.' && last_dot == e - 1) {
        last_dot = 0;
        for (size_t k = at + 1; k + 1 < e - 1; ++k)
          if (s[k] == '.') last_dot = k;
      }
      --e;
    }
    if (last_dot == 0 || last_dot <= at + 1) continue;
    size_t tld = 0;
    for (size_t k = last_dot + 1; k < e; ++k) tld += is_alpha(s[k]);
    if (tld < 2 || tld != e - last_dot - 1) continue;
    return {b, e};
  }
  return {std::string_view::npos, std::string_view::npos};
}

// API keys: well-known prefixes, `key=value` assignments, and long mixed-case tokens with digits.
Span find_api_key(std::string_view s, size_t from) {
  static const std::array<std::string_view, 14> kPrefixes = {
      "sk-",  "sk_live_",    "sk_test_", "pk_live_", "rk_live_", "ghp_", "gho_",
      "ghs_", "github_pat_", "xoxb-",    "xoxp-",    "AKIA",     "AIza", "glpat-"};
  static const std::array<std::string_view, 6> kKeys = {"api_key", "apikey", "api-key",
                                                        "secret",  "token",  "password"};
  size_t i = from;
  while (i < s.size()) {
    if (!is_token(s[i]) || (i > 0 && is_token(s[i - 1]))) {
      ++i;
      continue;
    }
    size_t e = i;
    while (e < s.size() && is_token(s[e])) ++e;
    std::string_view tok = s.substr(i, e - i);
    for (auto p : kPrefixes)
      if (tok.size() >= p.size() + 16 && tok.substr(0, p.size()) == p) return {i, e};
    // Bearer <token>
    if (tok == "Bearer" && e + 1 < s.size() && s[e] == ' ') {
      size_t t = e + 1, te = t;
      while (te < s.size() && (is_token(s[te]) || s[te] == '.')) ++te;
      if (te - t >= 20) return {t, te};
    }
    // secret=..., token: ...
    for (auto k : kKeys) {
      if (tok.size() < k.size()) continue;
      bool match = true;
      for (size_t c = 0; c < k.size(); ++c) {
        char a = tok[tok.size() - k.size() + c];
        if ((a >= 'A' && a <= 'Z' ? a + 32 : a) != k[c]) match = false;
      }
      if (!match) continue;
      size_t v = e;
      while (v < s.size() && (s[v] == ' ' || s[v] == '"' || s[v] == '\'')) ++v;
      if (v >= s.size() || (s[v] != '=' && s[v] != ':')) break;
      ++v;
      while (v < s.size() && (s[v] == ' ' || s[v] == '"' || s[v] == '\'')) ++v;
      size_t ve = v;
      while (ve < s.size() && s[ve] != ' ' && s[ve] != '"' && s[ve] != '\'' && s[ve] != ',' &&
             s[ve] != '\n' && s[ve] != '}')
        ++ve;
      if (ve - v >= 8) return {v, ve};
      break;
    }
    if (tok.size() >= 32) {
      int lower = 0, upper = 0, digit = 0;
      for (char c : tok)
        lower += c >= 'a' && c <= 'z', upper += c >= 'A' && c <= 'Z', digit += is_digit(c);
      if (lower && upper && digit >= 2) return {i, e};
    }
    i = e;
  }
  return {std::string_view::npos, std::string_view::npos};
}

Span find_ipv4(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (!is_digit(s[i]) || (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '.'))) continue;
    size_t p = i;
    int parts = 0;
    bool ok = true;
    while (parts < 4) {
      size_t b = p;
      int v = 0;
      while (p < s.size() && is_digit(s[p]) && p - b < 4) v = v * 10 + (s[p++] - '0');
      if (p == b || p - b > 3 || v > 255) {
        ok = false;
        break;
      }
      ++parts;
      if (parts < 4) {
        if (p >= s.size() || s[p] != '.') {
          ok = false;
          break;
        }
        ++p;
      }
    }
    if (!ok) continue;
    if (p < s.size() && (is_alnum(s[p]) || (s[p] == '.' && p + 1 < s.size() && is_digit(s[p + 1]))))
      continue;
    return {i, p};
  }
  return {std::string_view::npos, std::string_view::npos};
}

Span find_ipv6(std::string_view s, size_t from) {
  for (size_t c = s.find(':', from); c != std::string_view::npos; c = s.find(':', c + 1)) {
    // Walk back to the start of the hex/colon run.
    size_t b = c;
    while (b > from && (is_hex(s[b - 1]) || s[b - 1] == ':')) --b;
    if (b > 0 && (is_alnum(s[b - 1]) || s[b - 1] == '_')) continue;
    size_t e = c;
    while (e < s.size() && (is_hex(s[e]) || s[e] == ':')) ++e;
    if (e < s.size() && (is_alnum(s[e]) || s[e] == '_')) {
      c = e;
      continue;
    }
    std::string_view run = s.substr(b, e - b);
    int colons = 0, group = 0, groups = 0;
    bool ok = true, dbl = run.find("::") != std::string_view::npos;
    for (size_t k = 0; k < run.size(); ++k) {
      if (run[k] == ':') {
        ++colons;
        if (group) ++groups;
        group = 0;
      } else if (++group > 4) {
        ok = false;
      }
    }
    if (group) ++groups;
    if (run.find(":::") != std::string_view::npos) ok = false;
    if (ok && ((dbl && colons >= 2 && colons <= 7) || (!dbl && colons == 7 && groups == 8)))
      return {b, e};
    c = e;
  }
  return {std::string_view::npos, std::string_view::npos};
}

// Digit runs with single spaces/dashes between groups: 13-19 digits passing Luhn.
Span find_card(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (!is_digit(s[i]) || (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '.'))) continue;
    size_t p = i, last_digit_end = i;
    int digits = 0;
    std::string ds;
    while (p < s.size()) {
      if (is_digit(s[p])) {
        ds += s[p++];
        ++digits;
        last_digit_end = p;
      } else if ((s[p] == ' ' || s[p] == '-') && p + 1 < s.size() && is_digit(s[p + 1]) && p > i &&
                 is_digit(s[p - 1])) {
        ++p;
      } else {
        break;
      }
      if (digits > 19) break;
    }
    if (digits >= 13 && digits <= 19 && luhn_ok(ds) &&
        (last_digit_end >= s.size() || !is_alnum(s[last_digit_end])))
      return {i, last_digit_end};
    i = last_digit_end > i ? last_digit_end - 1 : i;
  }
  return {std::string_view::npos, std::string_view::npos};
}

// Phone numbers: optional +country code, 2-5 digit groups split by space, dash, dot or
// parentheses, 10-15 digits in all. Date-like groups (YYYY-MM...) are left alone.
Span find_phone(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    char c = s[i];
    if (!(is_digit(c) || c == '+' || c == '(')) continue;
    if (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '-' || s[i - 1] == '+' ||
                  s[i - 1] == '_'))
      continue;
    size_t p = i;
    bool plus = false;
    if (s[p] == '+') {
      plus = true;
      ++p;
    }
    std::vector<int> groups;
    int cur = 0, seps = 0;
    size_t end = p;
    while (p < s.size()) {
      char d = s[p];
      if (is_digit(d)) {
        ++cur;
        ++p;
        end = p;
      } else if ((d == ' ' || d == '-' || d == '.' || d == '(' || d == ')') && p + 1 < s.size()) {
        if (cur) groups.push_back(cur), cur = 0, ++seps;
        // Allow at most one separator char plus an optional space after ')'.
        ++p;
        if (d == ')' && p < s.size() && s[p] == ' ') ++p;
        if (p < s.size() && !is_digit(s[p]) && s[p] != '(') break;
      } else {
        break;
      }
    }
    if (cur) groups.push_back(cur);
    int total = 0;
    for (int g : groups) total += g;
    if (total < 10 || total > 15 || groups.size() < 2 || groups.size() > 5) {
      i = std::max(i, end > 0 ? end - 1 : 0);
      continue;
    }
    if (end < s.size() && (is_alnum(s[end]) || s[end] == '_' ||
                           (s[end] == '.' && end + 1 < s.size() && is_digit(s[end + 1]))))
      continue;
    bool ok = true;
    for (int g : groups)
      if (g > 4) ok = false;
    if (groups.back() < 3) ok = false;
    if (groups.size() >= 2 && groups[0] == 4 && groups[1] == 2) ok = false;  // a date
    if (!plus && !seps) ok = false;
    if (!ok) {
      i = std::max(i, end > 0 ? end - 1 : 0);  // not again from inside the same digit run
      continue;
    }
    return {i, end};
  }
  return {std::string_view::npos, std::string_view::npos};
}

bool has_digits(std::string_view s, int n) {
  int k = 0;
  for (char c : s)
    if (is_digit(c) && ++k >= n) return true;
  return false;
}

}  // namespace

bool luhn_ok(std::string_view digits) {
  int sum = 0, n = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    if (!is_digit(digits[i])) continue;
    int d = digits[i] - '0';
    if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    dbl = !dbl;
    ++n;
  }
  return n > 0 && sum % 10 == 0;
}

std::string redact_pii(std::string_view in, PiiCounts& counts, const PiiOptions& opt) {
  std::string s(in);
  if (opt.api_key) s = replace_all(s, "<API_KEY>", counts.api_key, find_api_key);
  if (opt.email && s.find('@') != std::string::npos)
    s = replace_all(s, "<EMAIL>", counts.email, find_email);
  if (opt.credit_card && has_digits(s, 13))
    s = replace_all(s, "<CREDIT_CARD>", counts.credit_card, find_card);
  if (opt.ip && has_digits(s, 4)) s = replace_all(s, "<IP>", counts.ipv4, find_ipv4);
  if (opt.ip && s.find(':') != std::string::npos)
    s = replace_all(s, "<IP>", counts.ipv6, find_ipv6);
  if (opt.phone && has_digits(s, 10)) s = replace_all(s, "<PHONE>", counts.phone, find_phone);
  return s;
}

}  // namespace llmops::common
