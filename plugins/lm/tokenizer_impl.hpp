// Internals of Tokenizer shared by tokenizer.cpp (encode/decode) and tokenizer_load.cpp
// (parsing tokenizer.json). Not part of the lm API.
#pragma once

#include <unicode/regex.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer.hpp"

namespace llmops::lm {

struct AddedToken {
  std::string content;
  int64_t id;
  bool special, lstrip, rstrip, single_word;
};

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreStep {
  enum Kind { kByteLevel, kSplit } kind;
  bool add_prefix_space = false;
  bool use_regex = true;
  std::unique_ptr<icu::RegexPattern> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};

// GPT-2's pre-tokenizer pattern, with \s spelled as Unicode White_Space (ICU's \s is narrower).
inline constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

// Limits on what a tokenizer.json may make the loader do (Tokenizer::load / parse).
inline constexpr uint64_t kMaxTokenizerJsonBytes = uint64_t{256} << 20;  // file size
inline constexpr int kMaxTokenizerJsonDepth = 64;  // nesting of arrays and objects (real: ~6)
// Token ids are 0 <= id < 2^31, and the model's ids at most twice its vocab (plus slack): the
// id -> token table is as long as the largest id.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 31) - 1;

// Rewrites \s and \S of an Oniguruma/Rust pattern to Unicode White_Space for ICU.
std::string icu_pattern(const std::string& p);

struct Tokenizer::Impl {
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> id_to_tok;  // model vocab by id
  std::unordered_map<std::string, int> merge_rank;
  std::vector<AddedToken> added;  // longest first
  std::map<int64_t, const AddedToken*> added_by_id;
  std::vector<std::string> normalizers;  // NFC, NFKC, NFD, NFKD, Lowercase
  std::vector<PreStep> pre;
  bool ignore_merges = false;
  std::optional<int64_t> unk;
  std::vector<std::vector<int64_t>> template_single;  // pieces: {ids} or {} for the sequence
  bool decoder_byte_level = true;
  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache;

  std::vector<int64_t> bpe(const std::string& word) const;
  void encode_segment(std::string text, std::vector<int64_t>& out) const;
  std::vector<std::string> pre_tokenize(const std::string& text) const;
};

}  // namespace llmops::lm
