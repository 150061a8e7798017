#include "quality.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "text.hpp"

namespace llmops::curators {

namespace {
std::string fmt(const char* rule, double v, double limit) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s %.3g (limit %.3g)", rule, v, limit);
  return buf;
}
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
}  // namespace

std::string quality_check(std::string_view prose, const QualityOptions& opt) {
  // Whitespace-separated words (Gopher counts these, not punctuation-split tokens).
  int64_t n_words = 0, alpha_words = 0, word_chars = 0;
  size_t i = 0;
  while (i < prose.size()) {
    while (i < prose.size() && is_space(prose[i])) ++i;
    size_t b = i;
    bool alpha = false;
    while (i < prose.size() && !is_space(prose[i])) {
      unsigned char c = prose[i];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) alpha = true;
      ++i;
    }
    if (i > b) {
      ++n_words;
      alpha_words += alpha;
      word_chars += static_cast<int64_t>(i - b);
    }
  }
  if (n_words < opt.min_words) return fmt("words", n_words, opt.min_words);
  if (n_words > opt.max_words) return fmt("words", n_words, opt.max_words);
  const double mean = static_cast<double>(word_chars) / n_words;
  if (mean < opt.min_mean_word_len) return fmt("mean word length", mean, opt.min_mean_word_len);
  if (mean > opt.max_mean_word_len) return fmt("mean word length", mean, opt.max_mean_word_len);
  int64_t symbols = 0;
  for (size_t k = 0; k < prose.size(); ++k) {
    // Hash signs as in markup or hashtags; "#1234" (a ticket number) is not one.
    if (prose[k] == '#' && !(k + 1 < prose.size() && prose[k + 1] >= '0' && prose[k + 1] <= '9'))
      ++symbols;
    if (prose.compare(k, 3, "...") == 0) ++symbols, k += 2;
    if (prose.compare(k, 3, "\xE2\x80\xA6") == 0) ++symbols, k += 2;
  }
  const double sym = static_cast<double>(symbols) / n_words;
  if (sym > opt.max_symbol_ratio) return fmt("symbol/word ratio", sym, opt.max_symbol_ratio);
  const double alpha = static_cast<double>(alpha_words) / n_words;
  if (alpha < opt.min_alpha_word_ratio)
    return fmt("words with a letter", alpha, opt.min_alpha_word_ratio);

  // Duplicated turns ('\n'-separated paragraphs).
  std::vector<std::string_view> turns;
  for (size_t b = 0; b <= prose.size();) {
    size_t e = prose.find('\n', b);
    if (e == std::string_view::npos) e = prose.size();
    if (e > b) turns.push_back(prose.substr(b, e - b));
    b = e + 1;
  }
  if (turns.size() >= 4) {
    std::sort(turns.begin(), turns.end());
    size_t dup = 0;
    for (size_t k = 1; k < turns.size(); ++k) dup += turns[k] == turns[k - 1];
    const double r = static_cast<double>(dup) / turns.size();
    if (r > opt.max_dup_turn_ratio) return fmt("duplicated turns", r, opt.max_dup_turn_ratio);
  }

  if (n_words < opt.repetition_min_words) return "";
  std::vector<std::string_view> w;
  words(prose, w);
  if (w.size() < 5) return "";
  std::vector<uint64_t> h;
  h.reserve(w.size());
  for (auto x : w) h.push_back(hash64(to_lower_ascii(x)));
  int64_t total_chars = 0;
  for (auto x : w) total_chars += static_cast<int64_t>(x.size());
  // Most common 2-gram's share of characters.
  std::unordered_map<uint64_t, int64_t> bi;
  for (size_t k = 0; k + 1 < h.size(); ++k)
    bi[mix64(h[k] ^ mix64(h[k + 1]))] += static_cast<int64_t>(w[k].size() + w[k + 1].size());
  int64_t top = 0;
  for (const auto& [_, v] : bi) top = std::max(top, v);
  // A 2-gram seen once is not repetition.
  if (bi.size() < h.size() - 1) {
    const double r = static_cast<double>(top) / total_chars;
    if (r > opt.max_top2gram_ratio) return fmt("top 2-gram share", r, opt.max_top2gram_ratio);
  }
  // Characters covered by 5-grams that occur more than once.
  std::unordered_map<uint64_t, int> five;
  std::vector<uint64_t> keys;
  for (size_t k = 0; k + 5 <= h.size(); ++k) {
    uint64_t x = 0;
    for (size_t j = 0; j < 5; ++j) x = mix64(x ^ h[k + j]);
    keys.push_back(x);
    ++five[x];
  }
  std::vector<char> covered(w.size(), 0);
  for (size_t k = 0; k < keys.size(); ++k)
    if (five[keys[k]] > 1)
      for (size_t j = 0; j < 5; ++j) covered[k + j] = 1;
  int64_t dup_chars = 0;
  for (size_t k = 0; k < w.size(); ++k)
    if (covered[k]) dup_chars += static_cast<int64_t>(w[k].size());
  const double r = static_cast<double>(dup_chars) / total_chars;
  if (r > opt.max_dup5gram_ratio) return fmt("duplicated 5-gram share", r, opt.max_dup5gram_ratio);
  return "";
}

}  // namespace llmops::curators
