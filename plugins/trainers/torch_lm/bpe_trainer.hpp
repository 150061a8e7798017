// Byte-level BPE tokenizer training: learns merges from text and writes a Hugging Face
// `tokenizer.json` (ByteLevel pre-tokenizer and decoder, BPE model) that plugins/lm's Tokenizer and
// HF `tokenizers` both load, with ChatML's special tokens as added tokens.
//
// Why not libsentencepiece: its BPE model is not byte-level (unknown characters become <unk> or
// byte-fallback pieces), it writes a .model protobuf rather than tokenizer.json, and converting it
// needs HF's Metaspace pre-tokenizer, which plugins/lm's tokenizer does not implement. Training
// byte-level BPE directly gives exact round trips (any UTF-8 text decodes to itself), a file that
// the same tokenizer code used for HF models loads, and about 200 lines with no conversion step.
// Thread safety: plain function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::trainers {

struct BpeTrainOptions {
  int64_t vocab_size = 1024;  // special tokens + 256 bytes + merges
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
  // Added as special tokens with ids 0, 1, 2, ...; text is cut at them before counting words.
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
};

// Returns the tokenizer.json text. Deterministic: ties between equally frequent pairs go to the
// lexicographically smaller pair.
Result<std::string> train_bpe_tokenizer(const std::vector<std::string>& texts,
                                        const BpeTrainOptions& options);

}  // namespace llmops::trainers
