// evaluator/lm: evaluates a language model on a chat data set, optional extra suites and the
// built-in task-assistant safety suite; compares it with a baseline model when one is given;
// decides a blessing from the step's gates; writes a `blessing` and a `report`. A failing gate
// does not fail the step: it makes the blessing negative, and `when:` on the blessing decides
// what runs next. See docs/evaluator.md.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "gates.hpp"
#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"
#include "metrics.hpp"
#include "report.hpp"
#include "runner.hpp"
#include "sample.hpp"

namespace {

using llmops::Result;
using llmops::Status;
namespace ev = llmops::evaluators;
namespace fs = std::filesystem;
using nlohmann::json;

class LmEvaluator : public llmops::Plugin {
 public:
  Status run(llmops::StepContext& ctx) override {
    try {
      return run_impl(ctx);
    } catch (const std::exception& e) {
      return Status::internal(std::string("evaluator/lm: ") + e.what());
    }
  }

 private:
  static Status load_samples(llmops::StepContext& ctx, const ev::RefusalDetector& refusals,
                             ev::TargetTurn target, ev::SuiteLoad& load) {
    const int64_t max_samples = ctx.param_int("max_samples", 0);
    auto cap = [&](size_t from) {
      if (max_samples > 0 && load.samples.size() - from > static_cast<size_t>(max_samples))
        load.samples.resize(from + static_cast<size_t>(max_samples));
    };
    auto ds = ctx.input("dataset");
    if (!ds) return Status::invalid("evaluator/lm needs a `dataset` input");
    if (auto s = ev::load_jsonl_path(ds->path, "dataset", refusals, target, load); !s) return s;
    cap(0);
    if (auto extra = ctx.input("suites")) {
      std::error_code ec;
      std::vector<fs::path> files;
      if (fs::is_directory(extra->path, ec)) {
        for (const auto& e : fs::directory_iterator(extra->path, ec))
          if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path());
        std::sort(files.begin(), files.end());
      } else {
        files.push_back(extra->path);
      }
      // suite_name names the one suite of `suites` (a data set folder's data.jsonl would
      // otherwise be suite "data").
      const auto suite_name = ctx.param_string("suite_name", "");
      if (!suite_name.empty() && files.size() != 1)
        return Status::invalid("suite_name names one suite, but input `suites` holds " +
                               std::to_string(files.size()) + " JSONL files");
      if (!suite_name.empty() && !ev::valid_suite_name(suite_name))
        return Status::invalid("suite_name '" + suite_name +
                               "' must be a letter or _ followed by letters, digits, _ or -");
      for (const auto& f : files) {
        const auto name = !suite_name.empty()                 ? suite_name
                          : fs::is_directory(extra->path, ec) ? f.stem().string()
                                                              : "extra";
        if (name == "dataset" || name == "safety")
          return Status::invalid("an extra suite may not be called '" + name + "'");
        const auto from = load.samples.size();
        if (auto s = ev::load_jsonl_path(f, name, refusals, target, load); !s) return s;
        cap(from);
      }
    }
    if (ctx.param_bool("safety_suite", true))
      ev::load_jsonl_text(ev::builtin_safety_suite_jsonl(), "safety", "safety_suite.jsonl",
                          refusals, target, load);
    if (load.samples.empty()) return Status::invalid("no usable sample in the inputs");
    return Status::ok();
  }

  static Result<ev::ModelRun> evaluate(llmops::StepContext& ctx, const llmops::Input& model,
                                       const std::string& label,
                                       const std::vector<ev::Sample>& samples,
                                       const ev::RefusalDetector& refusals, int phase, int phases);

  Status run_impl(llmops::StepContext& ctx);
};

Result<ev::ModelRun> LmEvaluator::evaluate(llmops::StepContext& ctx, const llmops::Input& model,
                                           const std::string& label,
                                           const std::vector<ev::Sample>& samples,
                                           const ev::RefusalDetector& refusals, int phase,
                                           int phases) {
  fs::path tok_input;
  if (auto t = ctx.input("tokenizer")) tok_input = t->path;
  // The model's own tokenizer wins for the baseline; the explicit one is the fallback.
  auto tok = ev::find_tokenizer(model.path, label == "baseline" ? fs::path() : tok_input);
  if (!tok && label == "baseline") tok = ev::find_tokenizer(model.path, tok_input);
  if (!tok) return tok.status();
  ev::RunOptions opt;
  opt.max_new_tokens = ctx.param_int("max_new_tokens", 128);
  opt.clamp_token_ids = ctx.param_bool("clamp_token_ids", false);
  opt.cancelled = [&] { return ctx.cancelled(); };
  const double total = static_cast<double>(samples.size()) * phases;
  opt.progress = [&, phase](size_t done, size_t) {
    ctx.progress(static_cast<double>(samples.size()) * phase + static_cast<double>(done), total,
                 label);
  };
  ctx.info("evaluating the " + label + " model on " + std::to_string(samples.size()) + " samples");
  auto outcomes = ev::run_model(model.path, *tok, samples, opt);
  if (!outcomes)
    return Status(outcomes.status().code(), label + ": " + outcomes.status().message());
  ev::ModelRun run;
  run.label = label;
  run.model = model.digest.empty() ? model.path.string() : model.digest;
  run.outcomes = std::move(*outcomes);
  for (size_t i = 0; i < samples.size(); ++i) ev::score(samples[i], refusals, run.outcomes[i]);
  run.metrics = ev::aggregate_all(samples, run.outcomes);
  return run;
}

Status LmEvaluator::run_impl(llmops::StepContext& ctx) {
  auto gates = ev::parse_gates(json::parse(ctx.param_json("gates"), nullptr, false));
  if (!gates) return Status::invalid("gates: " + gates.status().message());
  const auto target_name = ctx.param_string("target", "reply");
  if (target_name != "reply" && target_name != "last")
    return Status::invalid("target must be \"reply\" or \"last\"");
  const auto target = target_name == "last" ? ev::TargetTurn::kLast : ev::TargetTurn::kReply;
  auto phrases_json = json::parse(ctx.param_json("refusal_phrases"), nullptr, false);
  std::vector<std::string> phrases;
  if (phrases_json.is_array())
    for (const auto& p : phrases_json)
      if (p.is_string()) phrases.push_back(p.get<std::string>());
  const ev::RefusalDetector refusals =
      phrases.empty() ? ev::RefusalDetector() : ev::RefusalDetector(phrases);

  ev::SuiteLoad load;
  if (auto s = load_samples(ctx, refusals, target, load); !s) return s;
  for (const auto& why : load.skipped) ctx.warn("skipped " + why);
  std::vector<std::string> suites;
  for (const auto& s : load.samples)
    if (std::find(suites.begin(), suites.end(), s.suite) == suites.end()) suites.push_back(s.suite);
  if (auto s = ev::check_gate_metrics(*gates, suites); !s) return s;

  auto model = ctx.input("model");
  if (!model) return Status::invalid("evaluator/lm needs a `model` input");
  auto baseline_in = ctx.input("baseline");
  const int phases = baseline_in ? 2 : 1;
  auto cand = evaluate(ctx, *model, "candidate", load.samples, refusals, 0, phases);
  if (!cand) return cand.status();
  std::optional<ev::ModelRun> base;
  if (baseline_in) {
    auto b = evaluate(ctx, *baseline_in, "baseline", load.samples, refusals, 1, phases);
    if (!b) return b.status();
    base = std::move(*b);
  }
  const auto blessing = ev::evaluate_gates(*gates, cand->metrics, base ? &base->metrics : nullptr);

  ev::ReportInput in;
  in.samples = &load.samples;
  in.candidate = &*cand;
  in.baseline = base ? &*base : nullptr;
  in.blessing = &blessing;
  in.skipped = load.skipped;
  in.worst = static_cast<int>(ctx.param_int("worst_failures", 10));
  in.settings = {{"max_new_tokens", ctx.param_int("max_new_tokens", 128)},
                 {"max_samples", ctx.param_int("max_samples", 0)},
                 {"target", target_name},
                 {"clamp_token_ids", ctx.param_bool("clamp_token_ids", false)},
                 {"refusal_phrases", refusals.phrases()},
                 {"safety_suite", ctx.param_bool("safety_suite", true)
                                      ? json(ev::builtin_safety_suite_version())
                                      : json(nullptr)}};

  const auto report_dir = ctx.output("report", llmops::artifact_kind::kReport);
  const auto dump = [](const json& j) {
    return j.dump(2, ' ', false, json::error_handler_t::replace);
  };
  std::ofstream(report_dir / "report.json") << dump(ev::report_json(in)) << '\n';
  std::ofstream(report_dir / "report.md") << ev::report_markdown(in);
  std::ofstream(report_dir / "failures.jsonl") << ev::failures_jsonl(in);

  auto bj = blessing.to_json();
  bj["model"] = cand->model;
  bj["baseline_model"] = base ? json(base->model) : json(nullptr);
  const auto blessing_dir = ctx.output("blessing", llmops::artifact_kind::kBlessing);
  std::ofstream(blessing_dir / "blessing.json") << dump(bj) << '\n';
  ctx.set_output_metadata("blessing", json{{"blessed", blessing.blessed},
                                           {"gates_passed", blessing.passed},
                                           {"gates_failed", blessing.failed},
                                           {"gates_skipped", blessing.skipped},
                                           {"model", cand->model}}
                                          .dump());
  ctx.set_output_metadata("report", json{{"blessed", blessing.blessed},
                                         {"samples", load.samples.size()},
                                         {"metrics", cand->metrics}}
                                        .dump(-1, ' ', false, json::error_handler_t::replace));

  for (const auto& [k, v] : cand->metrics) ctx.metric(k, v);
  if (base) {
    for (const auto& [k, v] : base->metrics) ctx.metric("baseline." + k, v);
    for (const auto& [k, v] : ev::metric_deltas(cand->metrics, base->metrics))
      ctx.metric("delta." + k, v);
  }
  ctx.metric("blessed", blessing.blessed ? 1.0 : 0.0);
  ctx.metric("gates_failed", blessing.failed);
  for (const auto& r : blessing.gates)
    if (r.verdict == "fail") ctx.warn("gate failed: " + r.gate.text + " (" + r.reason + ")");
  ctx.info(std::string(blessing.blessed ? "blessed" : "NOT blessed") + ": " +
           std::to_string(blessing.passed) + " gate(s) passed, " + std::to_string(blessing.failed) +
           " failed, " + std::to_string(blessing.skipped) + " skipped");
  return Status::ok();
}

#define INT(name, def, desc)                                                                     \
  "\"" name "\":{\"type\":\"integer\",\"minimum\":0,\"default\":" def ",\"description\":\"" desc \
  "\"}"
#define BOOL(name, def, desc) \
  "\"" name "\":{\"type\":\"boolean\",\"default\":" def ",\"description\":\"" desc "\"}"

constexpr char kParamsSchema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"gates\":{\"type\":[\"array\",\"object\"],\"default\":[],\"description\":\"Acceptance gates: 'exact_match >= 0.8', {metric, op, value}, {metric: {min_delta: 0.0}} (change vs the baseline). A failing gate makes the blessing negative; the step still succeeds\"},"
    INT("max_new_tokens", "128", "Greedy generation length limit per sample") ","
    INT("max_samples", "0", "Evaluate at most this many samples of the data set and of each extra suite (0: all); the safety suite is always whole") ","
    BOOL("safety_suite", "true", "Also run the built-in task-assistant safety and behaviour suite (metrics prefixed safety.)") ","
    "\"target\":{\"type\":\"string\",\"enum\":[\"reply\",\"last\"],\"default\":\"reply\",\"description\":\"Turn to generate: reply = first assistant turn after the last user turn; last = the last assistant turn\"},"
    "\"refusal_phrases\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"default\":[],\"description\":\"Phrases that mark a reply as a refusal (case-insensitive); empty: the built-in list\"},"
    "\"suite_name\":{\"type\":\"string\",\"description\":\"Name of the extra suite in input suites when it holds one JSONL file (default: the file name without .jsonl in a folder, extra for a file); its metrics are <suite_name>.<metric>\"},"
    BOOL("clamp_token_ids", "false", "Map token ids beyond the model's vocabulary to id % vocab instead of failing (test models only)") ","
    INT("worst_failures", "10", "Failures listed in report.md")
    "}}";

}  // namespace

LLMOPS_PLUGIN(
    LmEvaluator, "evaluator", "lm", "1.1.0",
    "Evaluates a chat model (loss, tool calls, refusals, safety suite, baseline deltas) and "
    "blesses it against gates",
    kParamsSchema,
    R"([{"name":"model","kind":"model","required":true},{"name":"dataset","kind":"dataset","required":true},{"name":"baseline","kind":"model","required":false},{"name":"tokenizer","kind":"tokenizer","required":false},{"name":"suites","kind":"dataset","required":false}])",
    R"([{"name":"blessing","kind":"blessing"},{"name":"report","kind":"report"}])", "subprocess",
    llmops::kCacheable)
