// Tokenizer::parse: reads tokenizer.json into Tokenizer::Impl, refusing what it cannot reproduce.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "json_depth.hpp"
#include "tokenizer_impl.hpp"

namespace llmops::lm {
namespace {

using nlohmann::json;

// A token id read from the file: an integer from 0 to kMaxTokenId, else nullopt. Floats and
// numbers past 64 bits are refused before any conversion (casting them is undefined).
std::optional<int64_t> token_id(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    return u <= uint64_t(kMaxTokenId) ? std::optional<int64_t>(int64_t(u)) : std::nullopt;
  }
  if (!v.is_number_integer()) return std::nullopt;
  const auto i = v.get<int64_t>();
  return i >= 0 && i <= kMaxTokenId ? std::optional<int64_t>(i) : std::nullopt;
}

std::string type_of(const json& j) {
  return j.is_object() ? j.value("type", std::string()) : "";
}

Result<std::unique_ptr<icu::RegexPattern>> compile(const std::string& pattern, bool literal) {
  UErrorCode err = U_ZERO_ERROR;
  UParseError pe;
  std::unique_ptr<icu::RegexPattern> re(icu::RegexPattern::compile(
      icu::UnicodeString::fromUTF8(literal ? pattern : icu_pattern(pattern)),
      literal ? UREGEX_LITERAL : 0, pe, err));
  if (U_FAILURE(err))
    return Status::invalid("cannot compile regex '" + pattern + "': " + u_errorName(err));
  return re;
}

Status add_pre(const json& p, std::vector<PreStep>& out) {
  const auto type = type_of(p);
  if (type == "Sequence") {
    for (const auto& q : p.at("pretokenizers"))
      if (auto s = add_pre(q, out); !s) return s;
    return Status::ok();
  }
  PreStep step;
  if (type == "ByteLevel") {
    step.kind = PreStep::kByteLevel;
    step.add_prefix_space = p.value("add_prefix_space", true);
    step.use_regex = p.value("use_regex", true);
    if (step.use_regex) {
      auto re = compile(kGpt2Pattern, false);
      if (!re) return re.status();
      step.regex = std::move(*re);
    }
  } else if (type == "Split") {
    step.kind = PreStep::kSplit;
    const auto& pat = p.at("pattern");
    const bool literal = pat.contains("String");
    auto re = compile(pat.at(literal ? "String" : "Regex").get<std::string>(), literal);
    if (!re) return re.status();
    step.regex = std::move(*re);
    const auto b = p.value("behavior", std::string("Isolated"));
    if (b == "Isolated")
      step.behavior = SplitBehavior::kIsolated;
    else if (b == "Removed")
      step.behavior = SplitBehavior::kRemoved;
    else if (b == "MergedWithPrevious")
      step.behavior = SplitBehavior::kMergedWithPrevious;
    else if (b == "MergedWithNext")
      step.behavior = SplitBehavior::kMergedWithNext;
    else if (b == "Contiguous")
      step.behavior = SplitBehavior::kContiguous;
    else
      return Status::invalid("unknown Split behavior '" + b + "'");
    step.invert = p.value("invert", false);
  } else {
    return Status::invalid("pre_tokenizer '" + type +
                           "' is not supported (supported: ByteLevel, Split, Sequence)");
  }
  out.push_back(std::move(step));
  return Status::ok();
}

Status add_post(const json& p, const std::unordered_map<std::string, int64_t>& ids,
                std::vector<std::vector<int64_t>>& single) {
  if (p.is_null()) return Status::ok();
  const auto type = type_of(p);
  if (type == "ByteLevel") return Status::ok();  // offsets only
  if (type == "Sequence") {
    for (const auto& q : p.at("processors"))
      if (auto s = add_post(q, ids, single); !s) return s;
    return Status::ok();
  }
  if (type != "TemplateProcessing")
    return Status::invalid("post_processor '" + type +
                           "' is not supported (supported: ByteLevel, TemplateProcessing)");
  single.clear();
  for (const auto& piece : p.at("single")) {
    if (piece.contains("Sequence")) {
      single.push_back({});
    } else {
      const auto name = piece.at("SpecialToken").at("id").get<std::string>();
      std::vector<int64_t> v;
      if (p.contains("special_tokens") && p["special_tokens"].contains(name)) {
        v = p["special_tokens"][name].at("ids").get<std::vector<int64_t>>();
      } else if (auto it = ids.find(name); it != ids.end()) {
        v = {it->second};
      } else {
        return Status::invalid("TemplateProcessing names an unknown token '" + name + "'");
      }
      single.push_back(std::move(v));
    }
  }
  return Status::ok();
}

}  // namespace

std::string icu_pattern(const std::string& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      if (p[i + 1] == 's')
        out += "\\p{White_Space}";
      else if (p[i + 1] == 'S')
        out += "\\P{White_Space}";
      else
        out += p.substr(i, 2);
      ++i;
    } else {
      out += p[i];
    }
  }
  return out;
}

Result<Tokenizer> Tokenizer::parse(const std::string& text, const std::string& where) {
  if (text.size() > kMaxTokenizerJsonBytes)
    return Status::invalid(where + ": " + std::to_string(text.size()) + " bytes, more than the " +
                           std::to_string(kMaxTokenizerJsonBytes >> 20) +
                           " MiB a tokenizer.json may have");
  // Nested Sequence pre-tokenizers and post-processors are followed recursively.
  if (const size_t at = json_too_deep(text, kMaxTokenizerJsonDepth); at != std::string::npos)
    return Status::invalid(where + ": JSON nests deeper than " +
                           std::to_string(kMaxTokenizerJsonDepth) + " levels (at byte " +
                           std::to_string(at) + "); a tokenizer.json nests about 6 deep");
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return Status::invalid(where + ": invalid JSON: " + e.what());
  }
  auto impl = std::make_unique<Impl>();
  try {
    const auto& m = j.at("model");
    if (m.contains("type") && m["type"] != "BPE")
      return Status::invalid(where + ": model type '" + m["type"].get<std::string>() +
                             "' is not supported (only byte-level BPE)");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(k) && !m[k].is_null() && !m[k].get<std::string>().empty())
        return Status::invalid(where + ": BPE " + k + " is not supported");
    if (m.value("byte_fallback", false))
      return Status::invalid(where + ": BPE byte_fallback is not supported");
    int64_t max_id = -1;
    for (auto& [tok, id] : m.at("vocab").items()) {
      const auto checked = token_id(id);
      if (!checked)
        return Status::invalid(where + ": vocab id " + id.dump() + " of token '" + tok +
                               "' is out of range (0 to 2^31-1)");
      const int64_t v = *checked;
      impl->vocab[tok] = v;
      max_id = std::max(max_id, v);
    }
    // The id -> token table is max_id + 1 long: ids far beyond the vocab's size would make a
    // tiny file allocate gigabytes.
    const auto room = 2 * static_cast<int64_t>(impl->vocab.size()) + 1024;
    if (max_id >= room)
      return Status::invalid(where + ": vocab id " + std::to_string(max_id) +
                             " is far beyond the " + std::to_string(impl->vocab.size()) +
                             " tokens of the vocab (ids must be below " + std::to_string(room) +
                             ")");
    impl->id_to_tok.assign(max_id + 1, "");
    for (auto& [tok, id] : impl->vocab) impl->id_to_tok[id] = tok;
    int rank = 0;
    for (const auto& mg : m.at("merges")) {
      std::string a, b;
      if (mg.is_array()) {
        a = mg.at(0).get<std::string>();
        b = mg.at(1).get<std::string>();
      } else {
        const auto s = mg.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          return Status::invalid(where + ": merge '" + s + "' is not two tokens");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      }
      impl->merge_rank.emplace(a + '\x01' + b, rank++);
    }
    impl->ignore_merges = m.value("ignore_merges", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) {
      auto it = impl->vocab.find(m["unk_token"].get<std::string>());
      if (it != impl->vocab.end()) impl->unk = it->second;
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        const auto checked = token_id(t.at("id"));
        if (!checked)
          return Status::invalid(where + ": added token id " + t.at("id").dump() +
                                 " is out of range (0 to 2^31-1)");
        const int64_t id = *checked;
        impl->added.push_back({t.at("content").get<std::string>(), id, t.value("special", false),
                               t.value("lstrip", false), t.value("rstrip", false),
                               t.value("single_word", false)});
      }
      std::stable_sort(impl->added.begin(), impl->added.end(), [](const auto& a, const auto& b) {
        return a.content.size() > b.content.size();
      });
      for (const auto& t : impl->added) impl->added_by_id[t.id] = &t;
    }
    std::vector<json> norms;
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      const auto& n = j["normalizer"];
      if (type_of(n) == "Sequence")
        norms.assign(n.at("normalizers").begin(), n.at("normalizers").end());
      else
        norms.push_back(n);
    }
    for (const auto& n : norms) {
      const auto t = type_of(n);
      if (t != "NFC" && t != "NFD" && t != "NFKC" && t != "NFKD" && t != "Lowercase")
        return Status::invalid(where + ": normalizer '" + t + "' is not supported");
      impl->normalizers.push_back(t);
    }
    if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null())
      return Status::invalid(where + ": no pre_tokenizer (only byte-level BPE is supported)");
    if (auto s = add_pre(j["pre_tokenizer"], impl->pre); !s)
      return Status::invalid(where + ": " + s.message());
    if (std::none_of(impl->pre.begin(), impl->pre.end(),
                     [](const PreStep& p) { return p.kind == PreStep::kByteLevel; }))
      return Status::invalid(where + ": no ByteLevel pre-tokenizer (only byte-level BPE)");
    std::unordered_map<std::string, int64_t> all_ids = impl->vocab;
    for (const auto& t : impl->added) all_ids[t.content] = t.id;
    if (auto s = add_post(j.value("post_processor", json()), all_ids, impl->template_single); !s)
      return Status::invalid(where + ": " + s.message());
    const auto d = j.value("decoder", json());
    const auto dt = type_of(d);
    if (d.is_null())
      impl->decoder_byte_level = false;
    else if (dt != "ByteLevel")
      return Status::invalid(where + ": decoder '" + dt + "' is not supported (only ByteLevel)");
  } catch (const std::exception& e) {
    return Status::invalid(where + ": malformed tokenizer: " + e.what());
  }
  Tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

}  // namespace llmops::lm
