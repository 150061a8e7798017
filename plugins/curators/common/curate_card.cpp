// The data card: what went in, what came out, and why each rejected line was rejected.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "curate.hpp"

namespace llmops::curators {

using ojson = nlohmann::ordered_json;

namespace {

std::string bucket_label(const std::vector<int64_t>& edges, size_t k) {
  if (k == 0) return "<" + std::to_string(edges[0]);
  if (k == edges.size()) return ">=" + std::to_string(edges.back());
  return std::to_string(edges[k - 1]) + "-" + std::to_string(edges[k] - 1);
}

ojson histogram(const std::vector<int64_t>& hist, const std::vector<int64_t>& edges) {
  ojson h = ojson::array();
  for (size_t k = 0; k <= edges.size(); ++k)
    h.push_back({{"bucket", bucket_label(edges, k)}, {"count", k < hist.size() ? hist[k] : 0}});
  return h;
}

template <typename Map>
std::vector<std::pair<typename Map::key_type, int64_t>> top(const Map& m, size_t n) {
  std::vector<std::pair<typename Map::key_type, int64_t>> v(m.begin(), m.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

std::string Curator::card_json(const std::vector<Source>& sources) const {
  const auto& s = stats_;
  ojson c;
  c["version"] = 1;
  c["generator"] = "curator/jsonl";
  ojson ins = ojson::array();
  for (size_t i = 0; i < sources.size(); ++i) {
    const auto& ss = i < s.sources.size() ? s.sources[i] : SourceStats{};
    ins.push_back({{"name", sources[i].name},
                   {"path", sources[i].path.string()},
                   {"digest", sources[i].digest},
                   {"kind", sources[i].kind},
                   {"weight", sources[i].weight},
                   {"files", ss.file_list},
                   {"lines", ss.lines},
                   {"bytes", ss.bytes},
                   {"kept", ss.kept},
                   {"rejected", ss.rejected},
                   {"train_rows", ss.train_rows},
                   {"formats", ss.formats}});
  }
  c["inputs"] = ins;
  c["counts"] = {{"lines_in", s.lines_in}, {"bytes_in", s.bytes_in},     {"kept", s.kept},
                 {"train", s.train},       {"train_rows", s.train_rows}, {"eval", s.eval},
                 {"rejected", s.rejected}};
  ojson rej = ojson::object();
  for (const char* r :
       {reason::kEmptyLine, reason::kInvalidUtf8, reason::kMalformedJson, reason::kUnknownFormat,
        reason::kStructure, reason::kTooShort, reason::kTooLong, reason::kTooManyTurns,
        reason::kQuality, reason::kOffTopic, reason::kContaminated, reason::kExactDuplicate,
        reason::kNearDuplicate, reason::kDownsampled}) {
    auto it = s.rejected_by_reason.find(r);
    rej[r] = it == s.rejected_by_reason.end() ? 0 : it->second;
  }
  c["rejected_by_reason"] = rej;
  c["formats"] = s.formats;
  c["pii"] = {{"email", s.pii.email},
              {"phone", s.pii.phone},
              {"ipv4", s.pii.ipv4},
              {"ipv6", s.pii.ipv6},
              {"credit_card", s.pii.credit_card},
              {"api_key", s.pii.api_key},
              {"lines", s.pii_lines}};
  c["length_chars_histogram"] = histogram(s.chars_hist, kCharEdges);
  c["turns_histogram"] = histogram(s.turns_hist, kTurnEdges);
  ojson dup;
  dup["exact_clusters"] = s.exact_clusters.size();
  dup["near_clusters"] = s.near_clusters.size();
  const size_t n = static_cast<size_t>(std::max(0, opt_.max_clusters_in_card));
  ojson top_exact = ojson::array();
  for (const auto& [key, count] : top(s.exact_clusters, n)) {
    auto it = exact_.find(key);
    if (it == exact_.end()) continue;
    top_exact.push_back({{"source", source_names_[it->second.source]},
                         {"line", it->second.line},
                         {"duplicates", count}});
  }
  ojson top_near = ojson::array();
  for (const auto& [id, count] : top(s.near_clusters, n)) {
    const auto& ref = near_refs_[static_cast<size_t>(id)];
    top_near.push_back(
        {{"source", source_names_[ref.source]}, {"line", ref.line}, {"duplicates", count}});
  }
  dup["largest_exact"] = top_exact;
  dup["largest_near"] = top_near;
  c["duplicates"] = dup;
  c["index_bytes"] = s.index_bytes;
  c["params"] = {{"min_chars", opt_.min_chars},
                 {"max_chars", opt_.max_chars},
                 {"max_turns", opt_.max_turns},
                 {"quality", opt_.quality},
                 {"pii", opt_.pii},
                 {"topic_keywords", opt_.topic_keywords},
                 {"decontam_ngram", opt_.decontam_ngram},
                 {"decontam_reference_ngrams", reference_.size()},
                 {"exact_dedup", opt_.exact_dedup},
                 {"near_dedup", opt_.near_dedup},
                 {"num_perm", opt_.num_perm},
                 {"bands", opt_.bands},
                 {"shingle_words", opt_.shingle_words},
                 {"near_threshold", opt_.near_threshold},
                 {"eval_fraction", opt_.eval_fraction},
                 {"split_salt", opt_.split_salt}};
  return c.dump(2);
}

std::string Curator::card_markdown(const std::vector<Source>& sources) const {
  const auto j = ojson::parse(card_json(sources));
  std::string md = "# Data card\n\n";
  const auto& k = j["counts"];
  md += "Read " + k["lines_in"].dump() + " lines (" + k["bytes_in"].dump() + " bytes): kept " +
        k["kept"].dump() + " (train " + k["train"].dump() + " conversations, " +
        k["train_rows"].dump() + " rows after weights; eval " + k["eval"].dump() + "), rejected " +
        k["rejected"].dump() + ".\n\n## Inputs\n\n";
  md +=
      "| input | weight | lines | kept | rejected | formats | digest "
      "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& in : j["inputs"])
    md += "| " + in["name"].get<std::string>() + " | " + in["weight"].dump() + " | " +
          in["lines"].dump() + " | " + in["kept"].dump() + " | " + in["rejected"].dump() + " | " +
          in["formats"].dump() + " | " + in["digest"].get<std::string>() + " |\n";
  md += "\n## Rejected, by reason\n\n| reason | lines |\n|---|---|\n";
  for (const auto& [r, n] : j["rejected_by_reason"].items())
    md += "| " + r + " | " + n.dump() + " |\n";
  md += "\n## PII redacted\n\n| type | count |\n|---|---|\n";
  for (const auto& [t, n] : j["pii"].items()) md += "| " + t + " | " + n.dump() + " |\n";
  md += "\n## Formats\n\n| format | lines |\n|---|---|\n";
  for (const auto& [f, n] : j["formats"].items()) md += "| " + f + " | " + n.dump() + " |\n";
  for (const char* h : {"length_chars_histogram", "turns_histogram"}) {
    md += std::string("\n## ") +
          (std::string(h) == "turns_histogram" ? "Turns per kept conversation"
                                               : "Content bytes per kept conversation") +
          "\n\n| bucket | count |\n|---|---|\n";
    for (const auto& b : j[h])
      md += "| " + b["bucket"].get<std::string>() + " | " + b["count"].dump() + " |\n";
  }
  const auto& d = j["duplicates"];
  md += "\n## Duplicate clusters\n\n" + d["exact_clusters"].dump() + " exact and " +
        d["near_clusters"].dump() + " near-duplicate clusters (MinHash " +
        j["params"]["num_perm"].dump() + " permutations, " + j["params"]["bands"].dump() +
        " bands, threshold " + j["params"]["near_threshold"].dump() + ").\n\n";
  md += "| kind | first line | duplicates removed |\n|---|---|---|\n";
  for (const char* kind : {"largest_exact", "largest_near"})
    for (const auto& c : d[kind])
      md += std::string("| ") + (kind[8] == 'e' ? "exact" : "near") + " | " +
            c["source"].get<std::string>() + ":" + c["line"].dump() + " | " +
            c["duplicates"].dump() + " |\n";
  return md;
}

}  // namespace llmops::curators
