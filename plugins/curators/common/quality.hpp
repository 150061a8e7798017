// Gopher-style quality heuristics (Rae et al. 2021, "MassiveText" rules), adapted to chat turns:
// word count bounds, mean word length, symbol-to-word ratio, share of words with a letter, share of
// duplicated turns, and (for texts of at least `repetition_min_words` words) the share of
// characters in the most common word 2-gram and in duplicated word 5-grams. Thread safety: pure
// functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace llmops::curators {

struct QualityOptions {
  int64_t min_words = 3;
  int64_t max_words = 100000;
  double min_mean_word_len = 2.5;
  double max_mean_word_len = 12.0;
  double max_symbol_ratio = 0.1;      // ('#' + "..." + "…") per word
  double min_alpha_word_ratio = 0.6;  // words holding at least one letter
  double max_dup_turn_ratio = 0.5;    // duplicated user/assistant turns, when >= 4 turns
  // The n-gram rules below only apply from this length: in short chats the assistant echoing a
  // task title is normal, not the boilerplate repetition these rules target.
  int64_t repetition_min_words = 200;
  double max_top2gram_ratio = 0.2;
  double max_dup5gram_ratio = 0.15;
};

// "" when `prose` (user and assistant turns joined by '\n') passes, else which rule failed.
std::string quality_check(std::string_view prose, const QualityOptions& opt);

}  // namespace llmops::curators
