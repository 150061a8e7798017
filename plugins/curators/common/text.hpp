// Text helpers shared by the curator plugins: UTF-8 checks, normalisation for deduplication, word
// tokenisation and a byte-defined 64-bit hash (stable across machines and runs, unlike std::hash).
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmops::curators {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);
// Copy of `s` with every ill-formed sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// MurmurHash64A over the bytes of `s`, loads defined little-endian so every machine agrees.
uint64_t hash64(std::string_view s, uint64_t seed = 0);
// Mixes a 64-bit value (splitmix64 finaliser).
uint64_t mix64(uint64_t x);

// ASCII lower-case, whitespace runs collapsed to one space, trimmed. Used for exact dedup.
std::string normalize_text(std::string_view s);

// Lower-cased words: runs of ASCII letters/digits or non-ASCII bytes. Punctuation separates.
void words(std::string_view s, std::vector<std::string_view>& out);
// Hashes of the lower-cased words of `s` (appended to `out`).
void word_hashes(std::string_view s, std::vector<uint64_t>& out);
// Hashes of every n consecutive word hashes; fewer than n words give one shingle of them all.
void shingles(const std::vector<uint64_t>& word_hashes, size_t n, std::vector<uint64_t>& out);

// A value in [0, 1) from a hash, for deterministic splits and sampling.
inline double unit_interval(uint64_t h) {
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

std::string to_lower_ascii(std::string_view s);

}  // namespace llmops::curators
