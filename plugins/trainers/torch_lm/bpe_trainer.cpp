// Byte-level BPE training; see bpe_trainer.hpp. Words are split with GPT-2's pre-tokenizer regex
// (the one the ByteLevel pre-tokenizer applies at encode time), so merges never cross a boundary
// the tokenizer will not cross either.
#include "trainers/torch_lm/bpe_trainer.hpp"

#include <unicode/regex.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "lm/tokenizer_impl.hpp"

namespace llmops::trainers {
namespace {

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 and up.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out(256);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    const int cp = keep ? b : 256 + n++;
    icu::UnicodeString u(static_cast<UChar32>(cp));
    u.toUTF8String(out[b]);
  }
  return out;
}

// Cuts `text` at the special tokens and appends the pieces between them.
void split_specials(const std::string& text, const std::vector<std::string>& specials,
                    std::vector<std::string>& out) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t best = std::string::npos, len = 0;
    for (const auto& s : specials) {
      auto f = text.find(s, pos);
      if (f != std::string::npos && (f < best || (f == best && s.size() > len))) {
        best = f;
        len = s.size();
      }
    }
    if (best == std::string::npos) {
      if (pos < text.size()) out.push_back(text.substr(pos));
      return;
    }
    if (best > pos) out.push_back(text.substr(pos, best - pos));
    pos = best + len;
  }
}

struct PairHash {
  size_t operator()(uint64_t k) const { return std::hash<uint64_t>()(k * 0x9E3779B97F4A7C15ull); }
};

}  // namespace

Result<std::string> train_bpe_tokenizer(const std::vector<std::string>& texts,
                                        const BpeTrainOptions& opt) {
  const int64_t base = static_cast<int64_t>(opt.special_tokens.size()) + 256;
  if (opt.vocab_size < base)
    return Status::invalid("tokenizer vocab size " + std::to_string(opt.vocab_size) +
                           " is below the minimum " + std::to_string(base) +
                           " (256 bytes + special tokens)");
  UErrorCode err = U_ZERO_ERROR;
  UParseError pe;
  std::unique_ptr<icu::RegexPattern> re(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(lm::kGpt2Pattern), 0, pe, err));
  if (U_FAILURE(err)) return Status::internal("cannot compile the pre-tokenizer regex");

  // 1. Word frequencies.
  std::map<std::string, int64_t> word_count;
  std::vector<std::string> pieces;
  for (const auto& t : texts) split_specials(t, opt.special_tokens, pieces);
  for (const auto& piece : pieces) {
    auto u = icu::UnicodeString::fromUTF8(piece);
    std::unique_ptr<icu::RegexMatcher> m(re->matcher(u, err));
    if (U_FAILURE(err)) return Status::internal("pre-tokenizer regex failed");
    while (m->find()) {
      std::string w;
      u.tempSubStringBetween(m->start(err), m->end(err)).toUTF8String(w);
      ++word_count[w];
    }
  }

  // 2. Symbols: the 256 bytes, then one per merge. Words as symbol sequences.
  const auto bytes = byte_symbols();
  std::vector<std::string> sym(bytes);
  struct Word {
    std::vector<int32_t> s;
    int64_t count;
  };
  std::vector<Word> words;
  words.reserve(word_count.size());
  for (const auto& [w, c] : word_count) {
    Word x{{}, c};
    for (unsigned char ch : w) x.s.push_back(ch);
    words.push_back(std::move(x));
  }

  // 3. Merge the most frequent pair until the vocabulary is full. Recounting every round costs
  // O(merges x symbols), which is seconds at most for the data sizes a CPU trainer sees.
  std::vector<std::pair<int32_t, int32_t>> merges;
  const int64_t want = opt.vocab_size - base;
  std::unordered_map<uint64_t, int64_t, PairHash> counts;
  while (static_cast<int64_t>(merges.size()) < want) {
    counts.clear();
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.s.size(); ++i)
        counts[(uint64_t(uint32_t(w.s[i])) << 32) | uint32_t(w.s[i + 1])] += w.count;
    uint64_t best = 0;
    int64_t best_n = 0;
    for (const auto& [k, n] : counts) {
      if (n < best_n) continue;
      if (n == best_n) {
        const auto &ba = sym[best >> 32], &bb = sym[best & 0xffffffff];
        const auto &ka = sym[k >> 32], &kb = sym[k & 0xffffffff];
        if (std::tie(ka, kb) >= std::tie(ba, bb)) continue;
      }
      best = k;
      best_n = n;
    }
    if (best_n < std::max<int64_t>(opt.min_frequency, 1)) break;
    const int32_t a = int32_t(best >> 32), b = int32_t(best & 0xffffffff);
    const int32_t id = static_cast<int32_t>(sym.size());
    sym.push_back(sym[a] + sym[b]);
    merges.emplace_back(a, b);
    for (auto& w : words) {
      size_t o = 0;
      for (size_t i = 0; i < w.s.size(); ++i) {
        if (i + 1 < w.s.size() && w.s[i] == a && w.s[i + 1] == b) {
          w.s[o++] = id;
          ++i;
        } else {
          w.s[o++] = w.s[i];
        }
      }
      w.s.resize(o);
    }
  }

  // 4. tokenizer.json: special tokens first, then bytes, then merged symbols.
  using oj = nlohmann::ordered_json;
  oj added = oj::array();
  oj vocab = oj::object();
  int64_t next = 0;
  for (const auto& s : opt.special_tokens) {
    added.push_back({{"id", next},
                     {"content", s},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    vocab[s] = next++;
  }
  for (const auto& s : sym) vocab[s] = next++;
  oj merge_list = oj::array();
  for (const auto& [a, b] : merges) merge_list.push_back({sym[a], sym[b]});
  const oj byte_level = {{"type", "ByteLevel"},
                         {"add_prefix_space", false},
                         {"trim_offsets", true},
                         {"use_regex", true}};
  oj j = {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merge_list}}}};
  return j.dump(1) + "\n";
}

}  // namespace llmops::trainers
