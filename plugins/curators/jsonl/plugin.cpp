// curator/jsonl: turns messy JSONL conversation logs (OpenAI, ShareGPT, Alpaca; any number of
// inputs, merged with weights) into clean train/eval data sets, a `rejected` data set that gives
// every dropped line's source, line number and reason, and a data card. See common/curate.hpp.
#include <fstream>
#include <nlohmann/json.hpp>

#include "curate.hpp"
#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace {

using llmops::Status;
namespace cur = llmops::curators;

class Jsonl : public llmops::Plugin {
 public:
  Status run(llmops::StepContext& ctx) override {
    try {
      return run_impl(ctx);
    } catch (const std::exception& e) {
      return Status::internal(std::string("jsonl: ") + e.what());
    }
  }

 private:
  static Status options(llmops::StepContext& ctx, cur::CurateOptions& o) {
    o.check_utf8 = ctx.param_bool("check_utf8", o.check_utf8);
    o.check_structure = ctx.param_bool("check_structure", o.check_structure);
    o.min_chars = ctx.param_int("min_chars", o.min_chars);
    o.max_chars = ctx.param_int("max_chars", o.max_chars);
    o.max_turns = ctx.param_int("max_turns", o.max_turns);
    o.quality = ctx.param_bool("quality", o.quality);
    auto& q = o.quality_opt;
    q.min_words = ctx.param_int("quality_min_words", q.min_words);
    q.max_words = ctx.param_int("quality_max_words", q.max_words);
    q.min_mean_word_len = ctx.param_double("quality_min_mean_word_len", q.min_mean_word_len);
    q.max_mean_word_len = ctx.param_double("quality_max_mean_word_len", q.max_mean_word_len);
    q.max_symbol_ratio = ctx.param_double("quality_max_symbol_ratio", q.max_symbol_ratio);
    q.min_alpha_word_ratio =
        ctx.param_double("quality_min_alpha_word_ratio", q.min_alpha_word_ratio);
    q.max_dup_turn_ratio = ctx.param_double("quality_max_dup_turn_ratio", q.max_dup_turn_ratio);
    q.max_top2gram_ratio = ctx.param_double("quality_max_top2gram_ratio", q.max_top2gram_ratio);
    q.max_dup5gram_ratio = ctx.param_double("quality_max_dup5gram_ratio", q.max_dup5gram_ratio);
    o.pii = ctx.param_bool("pii", o.pii);
    o.exact_dedup = ctx.param_bool("exact_dedup", o.exact_dedup);
    o.near_dedup = ctx.param_bool("near_dedup", o.near_dedup);
    o.num_perm = static_cast<int>(ctx.param_int("num_perm", o.num_perm));
    o.bands = static_cast<int>(ctx.param_int("bands", o.bands));
    o.shingle_words = static_cast<int>(ctx.param_int("shingle_words", o.shingle_words));
    o.near_threshold = ctx.param_double("near_threshold", o.near_threshold);
    o.decontam_ngram = static_cast<int>(ctx.param_int("decontam_ngram", o.decontam_ngram));
    o.eval_fraction = ctx.param_double("eval_fraction", o.eval_fraction);
    o.split_salt = ctx.param_string("split_salt", o.split_salt);
    o.rejected_max_chars = ctx.param_int("rejected_max_chars", o.rejected_max_chars);
    auto kw = nlohmann::json::parse(ctx.param_json("topic_keywords"), nullptr, false);
    if (kw.is_array()) {
      for (const auto& k : kw)
        if (k.is_string()) o.topic_keywords.push_back(k.get<std::string>());
    }
    if (auto why = cur::validate(o); !why.empty()) return Status::invalid(why);
    return Status::ok();
  }

  Status run_impl(llmops::StepContext& ctx) {
    cur::CurateOptions o;
    if (auto s = options(ctx, o); !s) return s;
    const auto decontam = ctx.param_string("decontam_input", "decontam");
    auto weights = nlohmann::json::parse(ctx.param_json("weights"), nullptr, false);
    std::vector<cur::Source> sources;
    cur::Curator curator(o);
    auto inputs = ctx.inputs();
    std::sort(inputs.begin(), inputs.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const auto& in : inputs) {
      if (in.name == decontam) {
        for (const auto& f : cur::source_files(in.path))
          if (auto s = curator.add_reference(f); !s) return s;
        continue;
      }
      cur::Source src{in.name, in.path, in.digest, in.kind, 1.0};
      if (weights.is_object() && weights.contains(in.name)) {
        if (!weights[in.name].is_number() || weights[in.name].get<double>() < 0)
          return Status::invalid("weights." + in.name + " must be a number >= 0");
        src.weight = weights[in.name].get<double>();
      }
      sources.push_back(std::move(src));
    }
    // A weight for an input this run lacks is not an error: inputs can come and go between runs
    // (a feedback re-entry adds `production`), and the same `with:` serves both.
    if (weights.is_object())
      for (const auto& [k, _] : weights.items())
        if (std::none_of(sources.begin(), sources.end(),
                         [&](const auto& s) { return s.name == k; }))
          ctx.log(llmops::LogLevel::kWarn,
                  "weights names '" + k + "', which is not an input of this run: ignored");
    if (sources.empty()) return Status::invalid("curator/jsonl needs at least one data input");

    using namespace llmops::artifact_kind;
    const auto train_dir = ctx.output("train", kDataset);
    const auto eval_dir = ctx.output("eval", kDataset);
    const auto rej_dir = ctx.output("rejected", kDataset);
    const auto card_dir = ctx.output("card", kReport);
    std::ofstream train(train_dir / "data.jsonl", std::ios::binary);
    std::ofstream eval(eval_dir / "data.jsonl", std::ios::binary);
    std::ofstream rejected(rej_dir / "rejected.jsonl", std::ios::binary);
    auto progress = [&](int64_t done, int64_t total, int64_t lines) {
      ctx.progress(static_cast<double>(done), static_cast<double>(total),
                   std::to_string(lines) + " lines");
    };
    auto st =
        curator.run(sources, train, eval, rejected, progress, [&] { return ctx.cancelled(); });
    if (!st) return st;
    train.close();
    eval.close();
    rejected.close();
    if (!train || !eval || !rejected) return Status::internal("cannot write the outputs");

    const auto card = curator.card_json(sources);
    std::ofstream(card_dir / "card.json") << card << '\n';
    std::ofstream(card_dir / "card.md") << curator.card_markdown(sources);
    const auto& s = curator.stats();
    ctx.metric("lines_in", static_cast<double>(s.lines_in));
    ctx.metric("bytes_in", static_cast<double>(s.bytes_in));
    ctx.metric("kept", static_cast<double>(s.kept));
    ctx.metric("train", static_cast<double>(s.train));
    ctx.metric("train_rows", static_cast<double>(s.train_rows));
    ctx.metric("eval", static_cast<double>(s.eval));
    ctx.metric("rejected", static_cast<double>(s.rejected));
    const auto cj = nlohmann::json::parse(card);
    for (const auto& [k, v] : cj["rejected_by_reason"].items())
      ctx.metric("rejected." + k, v.get<double>());
    for (const auto& [k, v] : cj["pii"].items()) ctx.metric("pii." + k, v.get<double>());
    for (const auto& [k, v] : cj["formats"].items()) ctx.metric("format." + k, v.get<double>());
    ctx.metric("exact_clusters", static_cast<double>(s.exact_clusters.size()));
    ctx.metric("near_clusters", static_cast<double>(s.near_clusters.size()));

    nlohmann::json lineage = nlohmann::json::array();
    for (const auto& src : sources)
      lineage.push_back({{"name", src.name}, {"digest", src.digest}, {"weight", src.weight}});
    auto meta = [&](const char* split, int64_t n) {
      return nlohmann::json{
          {"format", "openai-chat"}, {"split", split}, {"lines", n}, {"sources", lineage}}
          .dump();
    };
    ctx.set_output_metadata("train", meta("train", s.train_rows));
    ctx.set_output_metadata("eval", meta("eval", s.eval));
    ctx.set_output_metadata("rejected", meta("rejected", s.rejected));
    ctx.info("kept " + std::to_string(s.kept) + " of " + std::to_string(s.lines_in) +
             " lines (train " + std::to_string(s.train) + ", eval " + std::to_string(s.eval) +
             "), rejected " + std::to_string(s.rejected));
    return Status::ok();
  }
};

#define NUM(name, def, desc) \
  "\"" name "\":{\"type\":\"number\",\"default\":" def ",\"description\":\"" desc "\"}"
#define INT(name, def, desc)                                                                     \
  "\"" name "\":{\"type\":\"integer\",\"minimum\":0,\"default\":" def ",\"description\":\"" desc \
  "\"}"
#define BOOL(name, def, desc) \
  "\"" name "\":{\"type\":\"boolean\",\"default\":" def ",\"description\":\"" desc "\"}"

constexpr char kParamsSchema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    BOOL("check_utf8", "true", "Reject lines that are not valid UTF-8") ","
    BOOL("check_structure", "true", "Reject bad roles/order, empty turns, tool calls with unparseable arguments or no answer") ","
    INT("min_chars", "10", "Minimum bytes of message content plus tool arguments") ","
    INT("max_chars", "16000", "Maximum bytes of message content plus tool arguments") ","
    INT("max_turns", "50", "Maximum non-system messages") ","
    BOOL("quality", "true", "Apply the Gopher-style quality heuristics to user and assistant turns") ","
    INT("quality_min_words", "3", "Quality: minimum words") ","
    INT("quality_max_words", "100000", "Quality: maximum words") ","
    NUM("quality_min_mean_word_len", "2.5", "Quality: minimum mean word length") ","
    NUM("quality_max_mean_word_len", "12", "Quality: maximum mean word length") ","
    NUM("quality_max_symbol_ratio", "0.1", "Quality: maximum (hash signs + ellipses) per word") ","
    NUM("quality_min_alpha_word_ratio", "0.6", "Quality: minimum share of words with a letter") ","
    NUM("quality_max_dup_turn_ratio", "0.5", "Quality: maximum share of duplicated turns (4+ turns)") ","
    NUM("quality_max_top2gram_ratio", "0.2", "Quality: maximum character share of the top word 2-gram (200+ words)") ","
    NUM("quality_max_dup5gram_ratio", "0.15", "Quality: maximum character share of repeated word 5-grams (200+ words)") ","
    BOOL("pii", "true", "Redact e-mails, phones, IPs, Luhn-valid card numbers and API keys to <EMAIL> <PHONE> <IP> <CREDIT_CARD> <API_KEY>") ","
    "\"topic_keywords\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"default\":[],\"description\":\"When set, reject lines mentioning none of these (case-insensitive, tool calls included) as off_topic\"},"
    "\"decontam_input\":{\"type\":\"string\",\"default\":\"decontam\",\"description\":\"Name of the input used as the decontamination reference instead of data\"},"
    INT("decontam_ngram", "13", "Reject lines whose user turns share a word n-gram of this size with the reference") ","
    BOOL("exact_dedup", "true", "Drop lines whose normalised text (lower-cased, whitespace collapsed, system prompt excluded) was seen") ","
    BOOL("near_dedup", "true", "Drop near duplicates found by MinHash + LSH") ","
    INT("num_perm", "128", "MinHash permutations") ","
    INT("bands", "16", "LSH bands (num_perm must be a multiple)") ","
    INT("shingle_words", "5", "Words per MinHash shingle") ","
    NUM("near_threshold", "0.8", "Estimated Jaccard similarity at which a line is a near duplicate") ","
    NUM("eval_fraction", "0.05", "Share of kept lines sent to eval, chosen by a hash of the normalised text") ","
    "\"split_salt\":{\"type\":\"string\",\"default\":\"llmops\",\"description\":\"Salt of the split hash; change it for a different split\"},"
    INT("rejected_max_chars", "10000", "Longest raw text kept per rejected line") ","
    "\"weights\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\",\"minimum\":0},\"default\":{},\"description\":\"Input name -> weight: each kept train line appears floor(w) times plus once more with probability frac(w) (hash-decided); default 1\"}"
    "}}";

}  // namespace

LLMOPS_PLUGIN(
    Jsonl, "curator", "jsonl", "1.0.0",
    "Normalises, filters, deduplicates, redacts and splits JSONL conversations", kParamsSchema,
    "[]",
    R"([{"name":"train","kind":"dataset"},{"name":"eval","kind":"dataset"},{"name":"rejected","kind":"dataset"},{"name":"card","kind":"report"}])",
    "inprocess", llmops::kCacheable)
