// curator/word-count: counts the words of a text input and writes them as a JSON report.
//
// An example of a complete llmops plugin; copy it to start your own. It shows the parts most
// plugins need: typed parameters with defaults (declared in kParamsSchema, which `llmops validate`
// checks each step's `with:` against), a declared input and output, an output folder that the
// engine seals as an artifact, metrics, progress, logs, and cancellation. It uses only the SDK
// (<llmops/plugin.hpp>, <llmops/artifacts.hpp>) and the standard library.
//
// Input `text`: a file, or a folder whose regular files are all read (sorted by path).
// Output `counts` (kind `report`): counts.json with totals and the `top` most frequent words.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <llmops/artifacts.hpp>
#include <llmops/plugin.hpp>

namespace fs = std::filesystem;

namespace {

// A word is a run of ASCII letters, digits, apostrophes or non-ASCII bytes (so UTF-8 words stay
// whole); everything else separates words.
bool is_word_byte(unsigned char c) {
  return std::isalnum(c) || c == '\'' || c >= 0x80;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct Counts {
  std::map<std::string, int64_t> words;
  int64_t total = 0;
  int64_t lines = 0;
  int64_t files = 0;
};

class WordCount : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    // Parameters: the schema gives the defaults to `llmops plugins describe`; the same defaults
    // are repeated here because the engine passes only what the step wrote.
    const bool lowercase = ctx.param_bool("lowercase", true);
    const int64_t top = ctx.param_int("top", 10);
    const int64_t min_length = ctx.param_int("min_length", 1);
    if (top < 1) return llmops::Status::invalid("top must be >= 1, got " + std::to_string(top));

    const auto in = ctx.input("text");
    if (!in) return llmops::Status::invalid("input 'text' is missing");
    std::vector<fs::path> files;
    std::error_code ec;
    const auto type = fs::status(in->path, ec).type();
    if (type == fs::file_type::not_found)
      return llmops::Status::invalid("input 'text': " + in->path.string() + " does not exist");
    if (type == fs::file_type::directory) {
      for (fs::recursive_directory_iterator it(in->path, ec), end; !ec && it != end;
           it.increment(ec))
        if (it->is_regular_file()) files.push_back(it->path());
      std::sort(files.begin(), files.end());
    } else if (type == fs::file_type::regular) {
      files.push_back(in->path);
    }
    if (ec)
      return llmops::Status::internal("cannot read " + in->path.string() + ": " + ec.message());
    if (files.empty())
      return llmops::Status::invalid("input 'text' (" + in->path.string() + ") holds no files");
    ctx.info("counting words in " + std::to_string(files.size()) + " file(s) from " +
             in->path.string());

    Counts counts;
    for (size_t i = 0; i < files.size(); ++i) {
      if (ctx.cancelled()) return llmops::Status::cancelled("cancelled");
      auto st = count_file(ctx, files[i], lowercase, static_cast<size_t>(min_length), counts);
      if (!st) return st;
      ctx.progress(static_cast<double>(i + 1), static_cast<double>(files.size()),
                   files[i].filename().string());
    }

    // Output: a folder the engine creates empty and, once run() returns Ok, seals.
    const fs::path dir = ctx.output("counts", llmops::artifact_kind::kReport);
    std::ofstream out(dir / "counts.json", std::ios::binary);
    out << to_json(counts, static_cast<size_t>(top));
    out.close();
    if (!out) return llmops::Status::internal("cannot write " + (dir / "counts.json").string());
    ctx.set_output_metadata("counts",
                            "{\"words\":" + std::to_string(counts.total) +
                                ",\"unique_words\":" + std::to_string(counts.words.size()) + "}");

    // Metrics: later steps can use them (`when: "${{ steps.count.metrics.words }} > 100"`).
    ctx.metric("words", static_cast<double>(counts.total));
    ctx.metric("unique_words", static_cast<double>(counts.words.size()));
    ctx.metric("lines", static_cast<double>(counts.lines));
    return llmops::Status::ok();
  }

 private:
  static llmops::Status count_file(llmops::StepContext& ctx, const fs::path& file, bool lowercase,
                                   size_t min_length, Counts& counts) {
    std::ifstream f(file, std::ios::binary);
    if (!f) return llmops::Status::internal("cannot open " + file.string());
    ++counts.files;
    std::string line, word;
    while (std::getline(f, line)) {
      // Check for cancellation now and then, not only between files: inputs can be large.
      if (++counts.lines % 4096 == 0 && ctx.cancelled())
        return llmops::Status::cancelled("cancelled");
      line += '\n';  // ends the last word of the line
      for (unsigned char c : line) {
        if (is_word_byte(c)) {
          word += static_cast<char>(lowercase ? std::tolower(c) : c);
        } else if (!word.empty()) {
          if (word.size() >= min_length) {
            ++counts.words[word];
            ++counts.total;
          }
          word.clear();
        }
      }
    }
    if (f.bad()) return llmops::Status::internal("cannot read " + file.string());
    return llmops::Status::ok();
  }

  static std::string to_json(const Counts& c, size_t top) {
    std::vector<std::pair<std::string, int64_t>> ranked(c.words.begin(), c.words.end());
    // Most frequent first; ties in word order, so the report is deterministic (and cacheable).
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (ranked.size() > top) ranked.resize(top);
    std::ostringstream o;
    o << "{\"files\":" << c.files << ",\"lines\":" << c.lines << ",\"words\":" << c.total
      << ",\"unique_words\":" << c.words.size() << ",\"top\":[";
    for (size_t i = 0; i < ranked.size(); ++i)
      o << (i ? "," : "") << "{\"word\":\"" << json_escape(ranked[i].first)
        << "\",\"count\":" << ranked[i].second << "}";
    o << "]}\n";
    return o.str();
  }
};

}  // namespace

// The parameter schema (JSON Schema, an object): `llmops validate` checks each step's `with:`
// against it and `llmops plugins describe curator/word-count` prints it. (The `json` delimiter
// lets the text contain `)"`.)
constexpr char kParamsSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "lowercase": {"type": "boolean", "default": true,
                  "description": "Fold ASCII letters to lower case before counting"},
    "top": {"type": "integer", "default": 10, "minimum": 1,
            "description": "How many of the most frequent words to list"},
    "min_length": {"type": "integer", "default": 1, "minimum": 1,
                   "description": "Ignore words shorter than this (in bytes)"}
  }
})json";

// Declared inputs and outputs: `llmops validate` checks the step's `inputs:` against them.
// Kind `any` accepts every artifact kind (a literal path is sealed as `file` or `directory`).
constexpr char kInputs[] = R"([{"name": "text", "kind": "any", "required": true}])";
constexpr char kOutputs[] = R"([{"name": "counts", "kind": "report"}])";

// Exports the descriptor (read and ABI-checked before anything else) and the factory.
LLMOPS_PLUGIN(WordCount, "curator", "word-count", "1.0.0",
              "Counts the words of a text file or folder; writes the most frequent as JSON",
              kParamsSchema, kInputs, kOutputs, "inprocess", llmops::kCacheable)
