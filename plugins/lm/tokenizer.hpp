// Tokenizer: a Hugging Face `tokenizer.json` byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2
// style), reproducing the `tokenizers` library's ids and decoded text. Torch-free.
//
// Supported pieces of tokenizer.json (anything else is a clear error at load time):
//   added_tokens (special or not; lstrip/rstrip/single_word), normalizer null | NFC | NFKC | NFD |
//   NFKD | Lowercase | Sequence, pre_tokenizer ByteLevel | Split | Sequence (with a ByteLevel in
//   it), model BPE (merges as "a b" strings or [a, b] pairs, ignore_merges, unk_token),
//   post_processor null | ByteLevel | TemplateProcessing | Sequence, decoder ByteLevel | null.
// Regexes run on ICU (what the Rust library's Oniguruma patterns need: \p{L}, \p{N}, lookahead).
// Thread safety: encode/decode are const and safe to call concurrently (the word cache locks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::lm {

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  static Result<Tokenizer> load(const std::filesystem::path& tokenizer_json);
  static Result<Tokenizer> parse(const std::string& json_text, const std::string& where);

  // add_special_tokens applies the post-processor (e.g. a BOS token), as HF's encode() does.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Invalid UTF-8 from partial byte tokens becomes U+FFFD, as HF's decode() does.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;  // "" when unknown
  bool is_special(int64_t id) const;
  int64_t vocab_size() const;  // model vocab plus added tokens (max id + 1)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rust's String::from_utf8_lossy: each maximal invalid sequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace llmops::lm
