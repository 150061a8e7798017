// Byte-level BPE from tokenizer.json; see tokenizer.hpp. The pipeline mirrors the `tokenizers`
// library: split off added tokens, normalise, pre-tokenise (regex splits + byte-to-unicode
// mapping), BPE each piece, post-process. ICU provides the Unicode regexes and normalisation:
// hand-written category tables would drift from the Unicode version the library uses.
#include "tokenizer.hpp"

#include "tokenizer_impl.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

namespace llmops::lm {
namespace {

using nlohmann::json;

void append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xc0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xe0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (c & 0x3f));
  }
}

// Splits valid UTF-8 into code points (as strings).
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    n = std::min(n, s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
struct ByteTable {
  std::string byte_to_char[256];
  std::unordered_map<std::string, uint8_t> char_to_byte;
  ByteTable() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
      append_utf8(byte_to_char[b], printable ? b : 256 + n++);
      char_to_byte[byte_to_char[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteTable& bytes() {
  static const ByteTable t;
  return t;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::string utf8_lossy(std::string_view s) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    }
    size_t j = i + 1;
    bool ok = need > 0;
    for (size_t k = 0; ok && k < need; ++k, ++j) {
      const unsigned char lo_k = k == 0 ? lo : 0x80, hi_k = k == 0 ? hi : 0xbf;
      if (j >= n || p[j] < lo_k || p[j] > hi_k) ok = false;
      if (!ok) break;
    }
    if (ok) {
      out.append(reinterpret_cast<const char*>(p + i), j - i);
    } else {
      out += "\xEF\xBF\xBD";  // one U+FFFD for the maximal invalid prefix
      if (j == i) j = i + 1;
    }
    i = j;
  }
  return out;
}

std::vector<int64_t> Tokenizer::Impl::bpe(const std::string& word) const {
  if (ignore_merges) {
    if (auto it = vocab.find(word); it != vocab.end()) return {it->second};
  }
  {
    std::lock_guard lock(cache_mu);
    if (auto it = cache.find(word); it != cache.end()) return it->second;
  }
  auto sym = utf8_chars(word);
  while (sym.size() > 1) {
    int best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = merge_rank.find(sym[i] + '\x01' + sym[i + 1]);
      if (it != merge_rank.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT32_MAX) break;
    const std::string a = sym[at], b = sym[at + 1];
    std::vector<std::string> next;
    for (size_t i = 0; i < sym.size(); ++i) {  // merge every occurrence, left to right
      if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
        next.push_back(a + b);
        ++i;
      } else {
        next.push_back(sym[i]);
      }
    }
    sym = std::move(next);
  }
  std::vector<int64_t> ids;
  for (const auto& s : sym) {
    if (auto it = vocab.find(s); it != vocab.end()) {
      ids.push_back(it->second);
    } else if (unk) {
      ids.push_back(*unk);
    }
  }
  std::lock_guard lock(cache_mu);
  if (cache.size() > 200000) cache.clear();
  cache.emplace(word, ids);
  return ids;
}

std::vector<std::string> Tokenizer::Impl::pre_tokenize(const std::string& text) const {
  std::vector<std::string> pieces{text};
  for (const auto& step : pre) {
    std::vector<std::string> next;
    for (auto& piece : pieces) {
      std::string p = piece;
      if (step.kind == PreStep::kByteLevel && step.add_prefix_space && !p.empty() && p[0] != ' ')
        p = " " + p;
      const icu::RegexPattern* re = step.regex.get();
      if (!re || (step.kind == PreStep::kByteLevel && !step.use_regex)) {
        next.push_back(p);
        continue;
      }
      // Spans of the piece: (text, matched).
      std::vector<std::pair<std::string, bool>> spans;
      icu::UnicodeString u = icu::UnicodeString::fromUTF8(p);
      UErrorCode err = U_ZERO_ERROR;
      std::unique_ptr<icu::RegexMatcher> m(re->matcher(u, err));
      int32_t last = 0;
      auto sub = [&](int32_t b, int32_t e) {
        std::string s;
        u.tempSubStringBetween(b, e).toUTF8String(s);
        return s;
      };
      while (U_SUCCESS(err) && m->find(err)) {
        const int32_t b = m->start(err), e = m->end(err);
        if (e == b) continue;
        if (b > last) spans.emplace_back(sub(last, b), false);
        spans.emplace_back(sub(b, e), true);
        last = e;
      }
      if (last < u.length()) spans.emplace_back(sub(last, u.length()), false);
      if (step.kind == PreStep::kByteLevel) {
        for (auto& [s, matched] : spans) next.push_back(s);
        continue;
      }
      // Split: the regex marks delimiters; invert swaps which spans are delimiters.
      std::vector<std::string> out;
      bool pending_next = false;
      std::string carry;
      for (size_t i = 0; i < spans.size(); ++i) {
        auto& [s, matched] = spans[i];
        const bool delim = matched != step.invert;
        switch (step.behavior) {
          case SplitBehavior::kIsolated:
            out.push_back(s);
            break;
          case SplitBehavior::kRemoved:
            if (!delim) out.push_back(s);
            break;
          case SplitBehavior::kMergedWithPrevious:
            if (delim && !out.empty() && !pending_next)
              out.back() += s;
            else
              out.push_back(s);
            pending_next = false;
            break;
          case SplitBehavior::kMergedWithNext:
            if (delim) {
              carry += s;
            } else {
              out.push_back(carry + s);
              carry.clear();
            }
            break;
          case SplitBehavior::kContiguous:
            if (delim && i > 0 && (spans[i - 1].second != step.invert))
              out.back() += s;
            else
              out.push_back(s);
            break;
        }
      }
      if (!carry.empty()) out.push_back(carry);
      for (auto& s : out) next.push_back(std::move(s));
    }
    pieces = std::move(next);
  }
  return pieces;
}

void Tokenizer::Impl::encode_segment(std::string text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  for (const auto& n : normalizers) {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    if (n == "Lowercase") {
      u.toLower(icu::Locale::getRoot());
    } else {
      UErrorCode err = U_ZERO_ERROR;
      const icu::Normalizer2* norm = n == "NFC"    ? icu::Normalizer2::getNFCInstance(err)
                                     : n == "NFD"  ? icu::Normalizer2::getNFDInstance(err)
                                     : n == "NFKC" ? icu::Normalizer2::getNFKCInstance(err)
                                                   : icu::Normalizer2::getNFKDInstance(err);
      if (U_SUCCESS(err)) u = norm->normalize(u, err);
    }
    text.clear();
    u.toUTF8String(text);
  }
  const auto& table = bytes();
  for (const auto& piece : pre_tokenize(text)) {
    if (piece.empty()) continue;
    std::string mapped;
    for (unsigned char c : piece) mapped += table.byte_to_char[c];
    auto ids = bpe(mapped);
    out.insert(out.end(), ids.begin(), ids.end());
  }
}

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int64_t> Tokenizer::encode(std::string_view text_in, bool add_special) const {
  const std::string text(text_in);
  std::vector<int64_t> ids;
  size_t seg = 0, i = 0;
  auto word_char = [&](size_t k) {
    return k < text.size() && (std::isalnum(static_cast<unsigned char>(text[k])) || text[k] == '_');
  };
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (const auto& t : impl_->added) {  // longest first: leftmost-longest match
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word && ((i > 0 && word_char(i - 1)) || word_char(i + t.content.size())))
        continue;
      hit = &t;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (b > seg && is_space(text[b - 1])) --b;
    if (hit->rstrip)
      while (e < text.size() && is_space(text[e])) ++e;
    impl_->encode_segment(text.substr(seg, b - seg), ids);
    ids.push_back(hit->id);
    seg = i = e;
  }
  impl_->encode_segment(text.substr(seg), ids);
  if (!add_special || impl_->template_single.empty()) return ids;
  std::vector<int64_t> out;
  for (const auto& piece : impl_->template_single) {
    if (piece.empty())
      out.insert(out.end(), ids.begin(), ids.end());
    else
      out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  const auto& table = bytes();
  std::vector<std::string> tokens;
  for (auto id : ids) {
    if (skip_special && is_special(id)) continue;
    auto t = id_to_token(id);
    if (!t.empty()) tokens.push_back(std::move(t));
  }
  if (!impl_->decoder_byte_level) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  std::string raw;
  for (const auto& t : tokens) {
    std::string b;
    bool all = true;
    for (const auto& c : utf8_chars(t)) {
      auto it = table.char_to_byte.find(c);
      if (it == table.char_to_byte.end()) {
        all = false;
        break;
      }
      b += static_cast<char>(it->second);
    }
    raw += all ? b : t;  // a token outside the byte alphabet passes through as its own bytes
  }
  return utf8_lossy(raw);
}

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  for (const auto& t : impl_->added)
    if (t.content == token) return t.id;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end())
    return it->second->content;
  if (id >= 0 && id < static_cast<int64_t>(impl_->id_to_tok.size())) return impl_->id_to_tok[id];
  return "";
}

bool Tokenizer::is_special(int64_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && it->second->special;
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = static_cast<int64_t>(impl_->id_to_tok.size());
  if (!impl_->added_by_id.empty()) n = std::max(n, impl_->added_by_id.rbegin()->first + 1);
  return n;
}

Result<Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return Status::invalid(path.string() + ": not a regular file (tokenizer.json must be one)");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxTokenizerJsonBytes)
    return Status::invalid(path.string() + ": " + std::to_string(size) + " bytes, more than the " +
                           std::to_string(kMaxTokenizerJsonBytes >> 20) +
                           " MiB a tokenizer.json may have (the largest real ones are tens of MB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read " + path.string());
  // Read at most the limit even if the file grows meanwhile.
  std::string text(static_cast<size_t>(std::min<uintmax_t>(ec ? 0 : size, kMaxTokenizerJsonBytes)),
                   '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse(text, path.string());
}

}  // namespace llmops::lm
