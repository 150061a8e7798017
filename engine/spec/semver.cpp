// Semantic-version matching for `uses: kind/name@CONSTRAINT`.
//
// Hand-written rather than pulled from a library: Debian ships no C++ semver package, and the
// subset we need (npm-style ^, ~, comparisons, partial versions) is small. Pre-release and build
// suffixes ("-rc.1", "+abc") are ignored for ordering.
#include <array>
#include <cctype>
#include <optional>
#include <sstream>
#include <string>

#include "engine/plugins/plugin_info.hpp"

namespace llmops::engine {
namespace {

struct Version {
  std::array<long, 3> part{0, 0, 0};
  int given = 0;  // how many parts were written (1..3); "1.2" is 2
};

std::optional<Version> parse_version(std::string s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.erase(0, 1);
  if (auto cut = s.find_first_of("-+"); cut != std::string::npos) s.resize(cut);
  if (s.empty()) return std::nullopt;
  Version v;
  size_t i = 0;
  while (true) {
    if (v.given == 3) return std::nullopt;
    if (i < s.size() && (s[i] == 'x' || s[i] == 'X' || s[i] == '*')) {
      ++i;  // wildcard: stop counting given parts
      if (i != s.size()) return std::nullopt;
      return v.given == 0 ? std::nullopt : std::optional<Version>(v);
    }
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start || i - start > 9) return std::nullopt;
    v.part[v.given++] = std::stol(s.substr(start, i - start));
    if (i == s.size()) return v;
    if (s[i] != '.') return std::nullopt;
    ++i;
  }
}

int compare(const Version& a, const Version& b) {
  for (int k = 0; k < 3; ++k) {
    if (a.part[k] != b.part[k]) return a.part[k] < b.part[k] ? -1 : 1;
  }
  return 0;
}

// The exclusive upper bound of an x-range: "1.2" -> 1.3.0, "1" -> 2.0.0.
Version bump(Version v, int at) {
  v.part[at] += 1;
  for (int k = at + 1; k < 3; ++k) v.part[k] = 0;
  return v;
}

// One comparator such as "^1.2", ">=1.0.0" or "1.2.x". nullopt when malformed.
std::optional<bool> satisfies_one(const Version& have, const std::string& c) {
  std::string op;
  size_t i = 0;
  while (i < c.size() && (c[i] == '^' || c[i] == '~' || c[i] == '>' || c[i] == '<' || c[i] == '='))
    op += c[i++];
  auto want = parse_version(c.substr(i));
  if (!want) return std::nullopt;
  const Version& w = *want;
  int cmp = compare(have, w);
  if (op.empty() || op == "=" || op == "==") {
    if (w.given == 3) return cmp == 0;
    return cmp >= 0 && compare(have, bump(w, w.given - 1)) < 0;
  }
  if (op == ">=") return cmp >= 0;
  if (op == ">") return w.given == 3 ? cmp > 0 : compare(have, bump(w, w.given - 1)) >= 0;
  if (op == "<") return cmp < 0;
  if (op == "<=") return w.given == 3 ? cmp <= 0 : compare(have, bump(w, w.given - 1)) < 0;
  if (op == "~") return cmp >= 0 && compare(have, bump(w, w.given >= 2 ? 1 : 0)) < 0;
  if (op == "^") {
    // The first non-zero written part may not change (npm semantics).
    int at = 0;
    while (at < w.given - 1 && w.part[at] == 0) ++at;
    return cmp >= 0 && compare(have, bump(w, at)) < 0;
  }
  return std::nullopt;
}

std::optional<bool> satisfies_all(const std::string& version, const std::string& constraint) {
  auto have = parse_version(version);
  if (!have) return std::nullopt;
  std::istringstream in(constraint);
  std::string part;
  bool ok = true;
  bool any = false;
  while (in >> part) {
    any = true;
    if (part == "*" || part == "x") continue;
    auto r = satisfies_one(*have, part);
    if (!r) return std::nullopt;
    ok = ok && *r;
  }
  (void)any;
  return ok;
}

}  // namespace

bool semver_satisfies(const std::string& version, const std::string& constraint) {
  auto r = satisfies_all(version, constraint);
  return r.value_or(false);
}

bool semver_constraint_valid(const std::string& constraint) {
  return satisfies_all("0.0.0", constraint).has_value();
}

}  // namespace llmops::engine
