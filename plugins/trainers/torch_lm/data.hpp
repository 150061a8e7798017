// Training data for trainer/torch-lm: OpenAI-chat JSONL ({"messages": [...]} per line, tool calls
// allowed) read from a file or a folder, tokenised as ChatML with an assistant-only loss mask, and
// packed into fixed-length sequences. Torch-free.
//
// Packing: conversations are joined into one stream, each followed by <|endoftext|>, and cut into
// rows of seq_len tokens that overlap by one token, so every token is a target exactly once (the
// model never predicts a row's first token). Attention is not reset at conversation boundaries
// (the usual "naive" packing); the <|endoftext|> separator tells the model a new one starts.
// Labels are the token id where the mask says "assistant output", else -100 (ignored).
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "llmops/status.hpp"
#include "lm/chat.hpp"
#include "lm/tokenizer.hpp"

namespace llmops::trainers {

using Conversation = std::vector<lm::ChatMessage>;

// The JSONL files of `path`: the file itself, or in a folder data.jsonl when present, else every
// *.jsonl below it (sorted, so the order is stable).
Result<std::vector<std::filesystem::path>> list_jsonl(const std::filesystem::path& path);

// Reads every conversation; an unreadable line is an error naming file:line. Blank lines are
// skipped. A conversation with no assistant turn is kept (it trains nothing) and counted.
Result<std::vector<Conversation>> read_conversations(const std::filesystem::path& path);

struct PackedData {
  int64_t seq_len = 0;
  std::vector<int64_t> ids;       // rows x seq_len
  std::vector<int64_t> labels;    // rows x seq_len, -100 where not a target
  std::vector<uint8_t> argument;  // rows x seq_len, 1 where the target is in an argument value
  int64_t tokens = 0;             // tokens in the stream
  int64_t target_tokens = 0;      // assistant tokens that count in the loss
  int64_t rows() const { return seq_len ? static_cast<int64_t>(ids.size()) / seq_len : 0; }
};

// kStream: the stream above. kConversations: whole conversations placed into rows (first-fit
// decreasing), so every row starts at a conversation's start and an answer is trained with its
// question in view (a conversation longer than a row is cut as the stream is); rows are padded.
enum class Packing { kStream, kConversations };

Result<PackedData> pack_conversations(const lm::Tokenizer& tokenizer,
                                      const std::vector<Conversation>& conversations,
                                      int64_t seq_len, Packing packing = Packing::kStream);

// A packed data set as one binary file (magic, seq_len, counts, then ids and labels as
// little-endian int64, then the argument flags as bytes), how the launching step hands data to its
// ranks; load checks the sizes.
Status save_packed(const std::filesystem::path& file, const PackedData& data);
Result<PackedData> load_packed(const std::filesystem::path& file);

// Cross-entropy (nats) of the best context-free model: the entropy of the target tokens' unigram
// distribution in `train`, evaluated on `on` (add-one smoothed over `vocab`). A trained model that
// has learnt anything beyond token frequencies is well below it.
double unigram_loss(const PackedData& train, const PackedData& on, int64_t vocab);

// Splits off every k-th conversation (k = 1 / fraction) as an evaluation set; deterministic.
void split_eval(std::vector<Conversation>& train, std::vector<Conversation>& eval, double fraction);

}  // namespace llmops::trainers
