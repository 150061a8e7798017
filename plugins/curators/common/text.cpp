#include "text.hpp"

namespace llmops::curators {

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t v = 0;
      for (int k = 0; k < 8; ++k) v |= static_cast<uint64_t>(p[i + k]) << (8 * k);
      if (v & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    // Find the longest valid prefix of 1..4 bytes starting at i.
    size_t len = 0;
    for (size_t l = 1; l <= 4 && i + l <= s.size(); ++l) {
      if (valid_utf8(s.substr(i, l))) {
        len = l;
        break;
      }
    }
    if (len) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

static inline uint64_t load64(const unsigned char* p) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}

uint64_t hash64(std::string_view s, uint64_t seed) {
  const uint64_t m = 0xc6a4a7935bd1e995ULL;
  const int r = 47;
  const auto* data = reinterpret_cast<const unsigned char*>(s.data());
  const size_t len = s.size();
  uint64_t h = seed ^ (len * m);
  const size_t nblocks = len / 8;
  for (size_t i = 0; i < nblocks; ++i) {
    uint64_t k = load64(data + 8 * i);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const unsigned char* tail = data + nblocks * 8;
  switch (len & 7) {
    case 7:
      h ^= static_cast<uint64_t>(tail[6]) << 48;
      [[fallthrough]];
    case 6:
      h ^= static_cast<uint64_t>(tail[5]) << 40;
      [[fallthrough]];
    case 5:
      h ^= static_cast<uint64_t>(tail[4]) << 32;
      [[fallthrough]];
    case 4:
      h ^= static_cast<uint64_t>(tail[3]) << 24;
      [[fallthrough]];
    case 3:
      h ^= static_cast<uint64_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint64_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint64_t>(tail[0]);
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static inline bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline bool is_word(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

std::string normalize_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (unsigned char c : s) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += lower(static_cast<char>(c));
  }
  return out;
}

void words(std::string_view s, std::vector<std::string_view>& out) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !is_word(static_cast<unsigned char>(s[i]))) ++i;
    size_t b = i;
    while (i < s.size() && is_word(static_cast<unsigned char>(s[i]))) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
}

void word_hashes(std::string_view s, std::vector<uint64_t>& out) {
  char buf[64];
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !is_word(static_cast<unsigned char>(s[i]))) ++i;
    size_t b = i;
    while (i < s.size() && is_word(static_cast<unsigned char>(s[i]))) ++i;
    if (i == b) continue;
    const size_t len = i - b;
    if (len <= sizeof buf) {
      for (size_t k = 0; k < len; ++k) buf[k] = lower(s[b + k]);
      out.push_back(hash64(std::string_view(buf, len), 0x5eed));
    } else {
      out.push_back(hash64(to_lower_ascii(s.substr(b, len)), 0x5eed));
    }
  }
}

void shingles(const std::vector<uint64_t>& wh, size_t n, std::vector<uint64_t>& out) {
  if (wh.empty()) return;
  if (n == 0) n = 1;
  if (wh.size() < n) n = wh.size();
  for (size_t i = 0; i + n <= wh.size(); ++i) {
    uint64_t h = 0x243f6a8885a308d3ULL;
    for (size_t k = 0; k < n; ++k) h = mix64(h ^ wh[i + k]);
    out.push_back(h);
  }
}

}  // namespace llmops::curators
