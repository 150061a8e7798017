// The curation engine behind curator/jsonl, independent of the plugin SDK so that tests, the
// fuzzer and the benchmark drive it directly. It streams every line of every source once, in
// order: parse + normalise -> structure -> length -> quality -> PII redaction -> topic ->
// decontamination -> exact dedup -> near dedup (MinHash LSH) -> weight -> train/eval split.
// Each line ends in exactly one of train, eval or rejected (with source, line number and reason).
// Memory: bounded by the longest line (max_line_bytes), plus the dedup indexes (8-40 bytes per kept
// line for exact dedup, num_perm*4 bytes + one bucket entry per band for near dedup) and the
// decontamination set. Thread safety: one Curator per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "conversation.hpp"
#include "llmops/status.hpp"
#include "minhash.hpp"
#include "plugins/common/pii.hpp"
#include "quality.hpp"

namespace llmops::curators {

struct CurateOptions {
  bool check_utf8 = true;
  bool check_structure = true;
  int64_t min_chars = 10;  // bytes of content + tool arguments
  int64_t max_chars = 16000;
  int64_t max_turns = 50;  // non-system messages
  bool quality = true;
  QualityOptions quality_opt;
  bool pii = true;
  common::PiiOptions pii_opt;
  std::vector<std::string> topic_keywords;  // when set, a line must contain one (case-insensitive)
  int decontam_ngram = 13;
  bool exact_dedup = true;
  bool near_dedup = true;
  int num_perm = 128;
  int bands = 16;
  int shingle_words = 5;
  double near_threshold = 0.8;
  uint64_t minhash_seed = 1;
  double eval_fraction = 0.05;
  std::string split_salt = "llmops";
  int64_t rejected_max_chars = 10000;
  // A longer line stops the run with an error naming FILE:LINE (a JSONL record is far smaller;
  // without a bound, a file with no newlines would be read into memory whole).
  int64_t max_line_bytes = int64_t{16} << 20;
  int max_clusters_in_card = 20;
};

// Checks ranges and combinations; "" when fine.
std::string validate(const CurateOptions& o);

struct Source {
  std::string name;
  std::filesystem::path path;  // a .jsonl file, or a folder whose *.jsonl files are read in order
  std::string digest, kind;
  double weight = 1.0;
};

// Files a source stands for: itself, or the sorted *.jsonl files under a folder.
std::vector<std::filesystem::path> source_files(const std::filesystem::path& p);

struct LineRef {
  uint32_t source = 0;
  int64_t line = 0;
};

struct SourceStats {
  std::string file_list;
  int64_t lines = 0, bytes = 0, kept = 0, rejected = 0, train_rows = 0;
  std::map<std::string, int64_t> formats;
};

struct CurateStats {
  int64_t lines_in = 0, bytes_in = 0, kept = 0, train = 0, eval = 0, train_rows = 0, rejected = 0;
  std::map<std::string, int64_t> rejected_by_reason, formats;
  common::PiiCounts pii;
  int64_t pii_lines = 0;
  std::vector<int64_t> chars_hist, turns_hist;  // of kept lines; edges in kCharEdges/kTurnEdges
  std::vector<SourceStats> sources;
  // Duplicate clusters: representative -> number of lines removed as its duplicates.
  std::unordered_map<uint64_t, int64_t> exact_clusters;  // key: exact hash
  std::unordered_map<int64_t, int64_t> near_clusters;    // key: LSH id
  size_t index_bytes = 0;
};

inline const std::vector<int64_t> kCharEdges = {100, 250, 500, 1000, 2000, 4000, 8000, 16000};
inline const std::vector<int64_t> kTurnEdges = {2, 4, 8, 16, 32, 64};

class Curator {
 public:
  explicit Curator(CurateOptions o);

  // Loads a decontamination reference (JSONL conversations or plain text lines): its user turns'
  // n-grams. May be called for several files.
  Status add_reference(const std::filesystem::path& file);

  using Progress = std::function<void(int64_t bytes_done, int64_t bytes_total, int64_t lines)>;
  Status run(const std::vector<Source>& sources, std::ostream& train, std::ostream& eval,
             std::ostream& rejected, const Progress& progress = {},
             const std::function<bool()>& cancelled = {});

  const CurateStats& stats() const { return stats_; }
  const CurateOptions& options() const { return opt_; }
  std::string card_json(const std::vector<Source>& sources) const;
  std::string card_markdown(const std::vector<Source>& sources) const;

  // One line through every filter; public for tests and the fuzzer. Returns the reason (nullptr =
  // kept), fills `out_line` with the normalised line when kept and `detail` otherwise.
  struct Outcome {
    const char* reason = nullptr;
    std::string detail;
    std::string line;  // normalised JSONL (no newline) when kept
    bool eval = false;
    int copies = 1;    // rows in train (weights)
    LineRef dup_of{};  // for duplicates
    bool has_dup_of = false;
  };
  Outcome process(std::string_view line, uint32_t source, int64_t line_no, double weight);

 private:
  void reject(std::ostream& out, const Source& src, const std::string& file, int64_t line_no,
              std::string_view raw, const Outcome& o);

  CurateOptions opt_;
  CurateStats stats_;
  std::vector<std::string> source_names_;
  MinHasher hasher_;
  LshIndex lsh_;
  std::unordered_map<uint64_t, LineRef> exact_;  // first line of each distinct text
  std::vector<LineRef> near_refs_;               // LSH id -> line
  std::unordered_set<uint64_t> reference_;       // decontamination n-grams
  std::vector<uint32_t> sig_;
  std::vector<uint64_t> wh_, sh_;
};

}  // namespace llmops::curators
