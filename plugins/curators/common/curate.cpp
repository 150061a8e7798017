#include "curate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "text.hpp"

namespace llmops::curators {

namespace fs = std::filesystem;

std::string validate(const CurateOptions& o) {
  if (o.min_chars < 0 || o.max_chars < o.min_chars) return "need 0 <= min_chars <= max_chars";
  if (o.max_turns < 1) return "max_turns must be >= 1";
  if (o.num_perm < 1 || o.bands < 1 || o.num_perm % o.bands != 0)
    return "num_perm must be a positive multiple of bands";
  if (o.shingle_words < 1) return "shingle_words must be >= 1";
  if (!(o.near_threshold > 0 && o.near_threshold <= 1)) return "near_threshold must be in (0, 1]";
  if (!(o.eval_fraction >= 0 && o.eval_fraction <= 1)) return "eval_fraction must be in [0, 1]";
  if (o.decontam_ngram < 1) return "decontam_ngram must be >= 1";
  if (o.max_line_bytes < 1) return "max_line_bytes must be >= 1";
  return "";
}

std::vector<fs::path> source_files(const fs::path& p) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(p, ec))
      if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(p);
  }
  return files;
}

namespace {

// Reads lines of up to `max_line` bytes with one buffer; the last line need not end in '\n'. A
// longer line stops the reader (too_long()): it is never held whole, so a file with no newline
// (or /dev/zero) costs max_line bytes of memory, not its size.
class LineReader {
 public:
  LineReader(const fs::path& p, size_t max_line)
      : f_(std::fopen(p.c_str(), "rb")), buf_(1 << 20), max_line_(max_line) {}
  ~LineReader() {
    if (f_) std::fclose(f_);
  }
  bool ok() const { return f_ != nullptr; }
  bool error() const { return f_ && std::ferror(f_); }
  bool too_long() const { return too_long_; }
  // Next line without '\n'; false at the end, on a read error or at a line over max_line.
  bool next(std::string_view& line) {
    if (too_long_) return false;
    for (;;) {
      const char* b = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(std::memchr(b, '\n', end_ - pos_));
      if (nl) {
        const size_t len = static_cast<size_t>(nl - b);
        if (carry_.size() + len > max_line_) return stop();
        pos_ += len + 1;
        if (!carry_.empty()) {
          carry_.append(b, len);
          held_.swap(carry_);
          carry_.clear();
          line = held_;
        } else {
          line = std::string_view(b, len);
        }
        return true;
      }
      if (carry_.size() + (end_ - pos_) > max_line_) return stop();
      carry_.append(b, end_ - pos_);
      pos_ = end_ = 0;
      if (eof_) {
        if (carry_.empty()) return false;
        held_.swap(carry_);
        carry_.clear();
        line = held_;
        return true;
      }
      end_ = std::fread(buf_.data(), 1, buf_.size(), f_);
      if (end_ < buf_.size()) eof_ = true;
    }
  }

 private:
  bool stop() {
    too_long_ = true;
    carry_.clear();
    carry_.shrink_to_fit();
    return false;
  }

  FILE* f_;
  std::vector<char> buf_;
  size_t max_line_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false, too_long_ = false;
  std::string carry_, held_;
};

// "FILE:LINE: a line longer than ..." for a reader that stopped at line `line_no`.
Status line_too_long(const std::string& what, const fs::path& file, int64_t line_no,
                     int64_t max_line) {
  return Status::invalid(what + file.string() + ":" + std::to_string(line_no) +
                         ": line is longer than " + std::to_string(max_line) +
                         " bytes (max_line_bytes): a JSONL file holds one record per line; check "
                         "that this is JSONL, or split the record");
}

void bump(std::vector<int64_t>& hist, const std::vector<int64_t>& edges, int64_t v) {
  if (hist.size() != edges.size() + 1) hist.assign(edges.size() + 1, 0);
  size_t k = 0;
  while (k < edges.size() && v >= edges[k]) ++k;
  ++hist[k];
}

std::string user_text(const Conversation& c) {
  std::string s;
  for (const auto& m : c.messages)
    if (m.role == "user") s += m.content + "\n";
  return s;
}

}  // namespace

Curator::Curator(CurateOptions o)
    : opt_(std::move(o)),
      hasher_(opt_.num_perm, opt_.shingle_words, opt_.minhash_seed),
      lsh_(opt_.num_perm, opt_.bands, opt_.near_threshold) {
  for (auto& k : opt_.topic_keywords) k = to_lower_ascii(k);
}

Status Curator::add_reference(const fs::path& file) {
  LineReader r(file, static_cast<size_t>(opt_.max_line_bytes));
  if (!r.ok()) return Status::not_found("cannot read decontamination reference " + file.string());
  std::string_view line;
  std::vector<uint64_t> wh, sh;
  int64_t line_no = 0;
  while (r.next(line)) {
    ++line_no;
    auto p = parse_line(line);
    const std::string text = p.ok ? user_text(p.conv) : sanitize_utf8(line);
    wh.clear();
    sh.clear();
    word_hashes(text, wh);
    if (wh.size() < static_cast<size_t>(opt_.decontam_ngram)) continue;
    shingles(wh, static_cast<size_t>(opt_.decontam_ngram), sh);
    reference_.insert(sh.begin(), sh.end());
  }
  if (r.too_long())
    return line_too_long("decontamination reference ", file, line_no + 1, opt_.max_line_bytes);
  return r.error() ? Status::internal("read error in " + file.string()) : Status::ok();
}

Curator::Outcome Curator::process(std::string_view line, uint32_t source, int64_t line_no,
                                  double weight) {
  Outcome o;
  auto pr = parse_line(line, opt_.check_utf8);
  if (!pr.ok) {
    o.reason = pr.reason;
    o.detail = std::move(pr.detail);
    return o;
  }
  const char* fmt = format_name(pr.format);
  ++stats_.formats[fmt];
  if (source < stats_.sources.size()) ++stats_.sources[source].formats[fmt];
  Conversation& c = pr.conv;
  if (opt_.check_structure) {
    if (auto why = check_structure(c); !why.empty()) {
      o.reason = reason::kStructure;
      o.detail = std::move(why);
      return o;
    }
  }
  const auto bytes = static_cast<int64_t>(content_bytes(c));
  const auto turns = static_cast<int64_t>(turn_count(c));
  if (bytes < opt_.min_chars) {
    o.reason = reason::kTooShort;
    o.detail = std::to_string(bytes) + " bytes of content < " + std::to_string(opt_.min_chars);
    return o;
  }
  if (bytes > opt_.max_chars) {
    o.reason = reason::kTooLong;
    o.detail = std::to_string(bytes) + " bytes of content > " + std::to_string(opt_.max_chars);
    return o;
  }
  if (turns > opt_.max_turns) {
    o.reason = reason::kTooManyTurns;
    o.detail = std::to_string(turns) + " turns > " + std::to_string(opt_.max_turns);
    return o;
  }
  if (opt_.quality) {
    if (auto why = quality_check(prose_text(c), opt_.quality_opt); !why.empty()) {
      o.reason = reason::kQuality;
      o.detail = std::move(why);
      return o;
    }
  }
  if (opt_.pii) {
    common::PiiCounts found;
    for (auto& m : c.messages) {
      m.content = common::redact_pii(m.content, found, opt_.pii_opt);
      for (auto& t : m.tool_calls)
        t.arguments = common::redact_pii(t.arguments, found, opt_.pii_opt);
    }
    if (found.total()) ++stats_.pii_lines;
    stats_.pii += found;
  }
  const std::string text = dedup_text(c);
  if (!opt_.topic_keywords.empty()) {
    const auto low = to_lower_ascii(text);
    bool hit = false;
    for (const auto& k : opt_.topic_keywords) hit = hit || low.find(k) != std::string::npos;
    if (!hit) {
      o.reason = reason::kOffTopic;
      o.detail = "mentions none of topic_keywords";
      return o;
    }
  }
  if (!reference_.empty()) {
    wh_.clear();
    sh_.clear();
    word_hashes(user_text(c), wh_);
    if (wh_.size() >= static_cast<size_t>(opt_.decontam_ngram)) {
      shingles(wh_, static_cast<size_t>(opt_.decontam_ngram), sh_);
      for (auto h : sh_)
        if (reference_.count(h)) {
          o.reason = reason::kContaminated;
          o.detail = "shares a " + std::to_string(opt_.decontam_ngram) +
                     "-gram with the decontamination reference";
          return o;
        }
    }
  }
  const std::string norm = normalize_text(text);
  const uint64_t key = hash64(norm);
  const LineRef here{source, line_no};
  if (opt_.exact_dedup) {
    auto [it, fresh] = exact_.try_emplace(key, here);
    if (!fresh) {
      o.reason = reason::kExactDuplicate;
      o.detail = "same normalised text as an earlier line";
      o.dup_of = it->second;
      o.has_dup_of = true;
      ++stats_.exact_clusters[key];
      return o;
    }
  }
  if (opt_.near_dedup) {
    hasher_.signature(text, sig_);
    double best = 0;
    const int64_t id = lsh_.query(sig_, &best);
    if (id >= 0) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "estimated Jaccard %.3f >= %.3f", best, opt_.near_threshold);
      o.reason = reason::kNearDuplicate;
      o.detail = buf;
      o.dup_of = near_refs_[static_cast<size_t>(id)];
      o.has_dup_of = true;
      ++stats_.near_clusters[id];
      return o;
    }
    lsh_.insert(sig_);
    near_refs_.push_back(here);
  }
  // Weight: floor(w) copies plus one more with probability frac(w), decided by the content hash.
  const double w = std::max(0.0, weight);
  o.copies = static_cast<int>(std::floor(w));
  if (unit_interval(mix64(key ^ 0x77656967687421ULL)) < w - std::floor(w)) ++o.copies;
  o.eval = unit_interval(hash64(norm, hash64(opt_.split_salt))) < opt_.eval_fraction;
  if (o.copies == 0 && !o.eval) {
    o.reason = reason::kDownsampled;
    o.detail = "dropped by input weight " + std::to_string(weight);
    return o;
  }
  bump(stats_.chars_hist, kCharEdges, bytes);
  bump(stats_.turns_hist, kTurnEdges, turns);
  o.line = to_jsonl(c);
  return o;
}

void Curator::reject(std::ostream& out, const Source& src, const std::string& file, int64_t line_no,
                     std::string_view raw, const Outcome& o) {
  std::string s = "{\"source\":";
  append_json_string(s, src.name);
  s += ",\"file\":";
  append_json_string(s, sanitize_utf8(file));
  s += ",\"line\":" + std::to_string(line_no) + ",\"reason\":";
  append_json_string(s, o.reason);
  s += ",\"detail\":";
  append_json_string(s, sanitize_utf8(o.detail));
  if (o.has_dup_of) {
    s += ",\"duplicate_of\":{\"source\":";
    append_json_string(s, source_names_[o.dup_of.source]);
    s += ",\"line\":" + std::to_string(o.dup_of.line) + "}";
  }
  const bool cut = static_cast<int64_t>(raw.size()) > opt_.rejected_max_chars;
  if (cut) raw = raw.substr(0, static_cast<size_t>(opt_.rejected_max_chars));
  s += ",\"text\":";
  append_json_string(s, valid_utf8(raw) ? std::string(raw) : sanitize_utf8(raw));
  if (cut) s += ",\"truncated\":true";
  s += "}\n";
  out << s;
  ++stats_.rejected;
  ++stats_.rejected_by_reason[o.reason];
}

Status Curator::run(const std::vector<Source>& sources, std::ostream& train, std::ostream& eval,
                    std::ostream& rejected, const Progress& progress,
                    const std::function<bool()>& cancelled) {
  if (auto why = validate(opt_); !why.empty()) return Status::invalid(why);
  int64_t total = 0;
  std::vector<std::vector<fs::path>> files;
  for (const auto& s : sources) {
    files.push_back(source_files(s.path));
    for (const auto& f : files.back()) {
      std::error_code ec;
      auto n = fs::file_size(f, ec);
      if (ec) return Status::not_found("input '" + s.name + "': cannot read " + f.string());
      total += static_cast<int64_t>(n);
    }
    source_names_.push_back(s.name);
    stats_.sources.emplace_back();
  }
  int64_t done = 0, next_report = 0;
  for (uint32_t si = 0; si < sources.size(); ++si) {
    const auto& src = sources[si];
    auto& ss = stats_.sources[si];
    for (const auto& f : files[si]) {
      ss.file_list += (ss.file_list.empty() ? "" : ", ") + f.filename().string();
      const std::string rel =
          fs::is_directory(src.path) ? fs::relative(f, src.path).string() : f.filename().string();
      LineReader r(f, static_cast<size_t>(opt_.max_line_bytes));
      if (!r.ok()) return Status::not_found("input '" + src.name + "': cannot open " + f.string());
      std::string_view line;
      int64_t line_no = 0;
      while (r.next(line)) {
        ++line_no;
        ++stats_.lines_in;
        ++ss.lines;
        const auto nbytes = static_cast<int64_t>(line.size() + 1);
        stats_.bytes_in += nbytes;
        ss.bytes += nbytes;
        done += nbytes;
        Outcome o = process(line, si, line_no, src.weight);
        if (o.reason) {
          reject(rejected, src, rel, line_no, line, o);
          ++ss.rejected;
        } else {
          ++stats_.kept;
          ++ss.kept;
          o.line += '\n';
          if (o.eval) {
            eval << o.line;
            ++stats_.eval;
          } else {
            for (int k = 0; k < o.copies; ++k) train << o.line;
            ++stats_.train;
            stats_.train_rows += o.copies;
            ss.train_rows += o.copies;
          }
        }
        if (done >= next_report) {
          if (progress) progress(done, total, stats_.lines_in);
          if (cancelled && cancelled()) return Status::cancelled("cancelled");
          next_report = done + (4 << 20);
        }
      }
      if (r.too_long())
        return line_too_long("input '" + src.name + "': ", f, line_no + 1, opt_.max_line_bytes);
      if (r.error()) return Status::internal("read error in " + f.string());
    }
  }
  if (progress) progress(done, total, stats_.lines_in);
  stats_.index_bytes = lsh_.memory_bytes() + exact_.size() * 40 + near_refs_.capacity() * 16 +
                       reference_.size() * 24;
  if (!train || !eval || !rejected) return Status::internal("cannot write the outputs");
  return Status::ok();
}

}  // namespace llmops::curators
