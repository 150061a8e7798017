#include "analyze.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace llmops::monitor {
using json = nlohmann::json;

namespace {
// A word in fewer than this share of reference prompts is a slot value, not phrasing.
constexpr double kSlotShare = 0.01;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
}  // namespace

Profile build_profile(const std::vector<Sample>& samples) {
  Profile p;
  double refusals = 0, chars = 0, replies = 0;
  for (const auto& s : samples) {
    const auto w = words(s.prompt);
    add_ngrams(w, p.unigrams, p.bigrams);
    std::set<std::string> seen(w.begin(), w.end());
    for (const auto& x : seen) p.word_df[x] += 1, p.vocabulary.insert(x);
    if (!s.function.empty()) p.functions.insert(s.function);
    if (!s.response.empty()) {
      replies += 1;
      chars += static_cast<double>(s.response.size());
      if (s.function.empty() && looks_like_refusal(s.response)) refusals += 1;
    }
  }
  p.prompts = samples.size();
  if (replies > 0) p.refusal_rate = refusals / replies, p.mean_response_chars = chars / replies;
  for (const auto& s : samples) {
    const auto sk = skeleton(p, words(s.prompt));
    for (size_t i = 0; i + 1 < sk.size(); ++i) p.skeleton_bigrams.insert(sk[i] + " " + sk[i + 1]);
  }
  return p;
}

std::vector<std::string> skeleton(const Profile& p, const std::vector<std::string>& w) {
  std::vector<std::string> out;
  const double min_df = kSlotShare * static_cast<double>(p.prompts);
  for (const auto& x : w) {
    auto it = p.word_df.find(x);
    if (it == p.word_df.end())
      out.push_back("<new>");
    else if (it->second < min_df)
      out.push_back("<slot>");
    else
      out.push_back(x);
  }
  // Runs of slots are one slot: a title's length is not phrasing.
  std::vector<std::string> merged;
  for (auto& x : out)
    if (merged.empty() || !(x == "<slot>" && merged.back() == "<slot>")) merged.push_back(x);
  return merged;
}

double novelty(const Profile& p, const std::string& prompt) {
  const auto sk = skeleton(p, words(prompt));
  if (sk.size() < 2) return 0;
  double unseen = 0;
  for (size_t i = 0; i + 1 < sk.size(); ++i)
    if (!p.skeleton_bigrams.count(sk[i] + " " + sk[i + 1])) unseen += 1;
  return unseen / static_cast<double>(sk.size() - 1);
}

json Analysis::payload(const std::string& trigger) const {
  json reasons = json::array(), vals = json::object();
  for (const auto& f : findings)
    if (f.trigger == trigger) {
      reasons.push_back(f.reason);
      vals[f.metric] = {{"value", f.value}, {"threshold", f.threshold}};
    }
  return {{"reasons", reasons}, {"values", vals}, {"requests", requests}};
}

std::vector<std::string> Analysis::triggers() const {
  std::vector<std::string> out;
  for (const char* k : {"drift", "quality", "latency"})
    for (const auto& f : findings)
      if (f.trigger == k) {
        out.push_back(k);
        break;
      }
  return out;
}

Analysis analyze(const Profile& ref, const std::vector<LoggedRequest>& window,
                 const std::map<std::string, double>& feedback, const Thresholds& t,
                 const ModelSignals& model) {
  Analysis a;
  a.requests = window.size();
  a.enough_data = static_cast<int64_t>(window.size()) >= t.min_requests;
  auto& v = a.values;
  auto check = [&](const char* trigger, const std::string& metric, double value, double limit,
                   const std::string& what) {
    v[metric] = value;
    if (value > limit)
      a.findings.push_back(
          {trigger, what + " " + fmt(value) + " > " + fmt(limit), metric, value, limit});
  };

  // Inputs.
  Counts uni, bi;
  double oov_requests = 0, oov_words = 0, total_words = 0, novel = 0, prompts = 0;
  for (const auto& r : window) {
    if (r.prompt.empty()) continue;
    prompts += 1;
    const auto w = words(r.prompt);
    add_ngrams(w, uni, bi);
    int64_t unseen = 0;
    for (const auto& x : w) unseen += ref.vocabulary.count(x) ? 0 : 1;
    oov_words += static_cast<double>(unseen);
    total_words += static_cast<double>(w.size());
    if (unseen >= t.oov_min_words) oov_requests += 1;
    bool unknown_fn = false;
    for (const auto& c : r.tool_calls)
      if (c.is_object() && c.contains("function") && c["function"].is_object() &&
          !ref.functions.count(c["function"].value("name", "")))
        unknown_fn = true;
    if (unknown_fn || novelty(ref, r.prompt) >= t.novelty) novel += 1;
  }
  const auto du = compare(ref.unigrams, uni, t.top_k), db = compare(ref.bigrams, bi, t.top_k);
  const auto share = [](double n, double d) { return d > 0 ? n / d : 0.0; };
  check("drift", "psi_unigram", du.psi, t.psi, "unigram PSI");
  check("drift", "psi_bigram", db.psi, t.psi, "bigram PSI");
  check("drift", "js_unigram", du.js, t.js, "unigram JS divergence");
  check("drift", "js_bigram", db.js, t.js, "bigram JS divergence");
  v["other_share_unigram"] = du.other_share;
  v["oov_word_rate"] = share(oov_words, total_words);
  check("drift", "oov_rate", share(oov_requests, prompts), t.oov,
        "share of requests with unseen vocabulary");
  check("drift", "unknown_intent_rate", share(novel, prompts), t.unknown_intent,
        "share of requests with intents or phrasing the training data lacks");

  // Outputs.
  double ok = 0, errors = 0, with_calls = 0, invalid_calls = 0, refusals = 0, chars = 0, texts = 0;
  std::vector<double> latencies;
  for (const auto& r : window) {
    latencies.push_back(r.latency_ms);
    if (!r.ok()) {
      errors += 1;
      continue;
    }
    ok += 1;
    const bool calls = !r.tool_calls.empty() || r.output.find("<tool_call>") != std::string::npos;
    if (calls) {
      with_calls += 1;
      if (!tool_calls_valid(r.tool_calls, r.output)) invalid_calls += 1;
    } else {
      texts += 1;
      chars += static_cast<double>(r.output.size());
      if (looks_like_refusal(r.output)) refusals += 1;
    }
  }
  check("quality", "tool_call_invalid_rate", share(invalid_calls, with_calls), t.tool_call_invalid,
        "share of tool calls with invalid JSON");
  v["tool_call_rate"] = share(with_calls, ok);
  v["refusal_rate_reference"] = ref.refusal_rate;
  const double refusal = share(refusals, texts);
  v["refusal_rate"] = refusal;
  check("quality", "refusal_rate_increase", refusal - ref.refusal_rate, t.refusal_increase,
        "refusal rate increase over the training data");
  const double mean_chars = share(chars, texts);
  v["response_chars_mean"] = mean_chars;
  v["response_chars_reference"] = ref.mean_response_chars;
  if (texts > 0 && ref.mean_response_chars > 0 && mean_chars > 0) {
    const double ratio = mean_chars / ref.mean_response_chars;
    check("quality", "response_length_ratio", std::max(ratio, 1.0 / ratio), t.response_length_ratio,
          "reply length off the training data by a factor of");
  }
  if (model.eval_perplexity) v["eval_perplexity"] = *model.eval_perplexity;
  if (model.reference_perplexity) v["reference_prompt_perplexity"] = *model.reference_perplexity;
  if (model.live_perplexity) {
    v["live_prompt_perplexity"] = *model.live_perplexity;
    const auto base =
        model.reference_perplexity ? model.reference_perplexity : model.eval_perplexity;
    if (base && *base > 0)
      check("quality", "perplexity_ratio", *model.live_perplexity / *base, t.perplexity_ratio,
            "live-prompt perplexity over the reference's");
  }
  double fb = 0, negative = 0;
  for (const auto& r : window)
    if (auto it = feedback.find(r.id); it != feedback.end()) {
      fb += 1;
      if (it->second <= 0) negative += 1;
    }
  v["feedback_count"] = fb;
  check("quality", "negative_feedback_rate", share(negative, fb), t.negative_feedback,
        "share of negative user feedback");

  // Service.
  check("latency", "latency_p99_ms", percentile(latencies, 99), t.latency_p99_ms,
        "latency p99 (ms)");
  v["latency_p50_ms"] = percentile(latencies, 50);
  check("latency", "error_rate", share(errors, static_cast<double>(window.size())), t.error_rate,
        "error rate");
  v["requests"] = window.size();
  if (!a.enough_data) a.findings.clear();
  return a;
}

json report_json(const Analysis& a, const Thresholds& t, const json& context) {
  json findings = json::array();
  for (const auto& f : a.findings)
    findings.push_back({{"trigger", f.trigger},
                        {"metric", f.metric},
                        {"value", f.value},
                        {"threshold", f.threshold},
                        {"reason", f.reason}});
  json reasons = json::array();
  for (const auto& f : a.findings) reasons.push_back(f.reason);
  return {{"version", 1},
          {"drift", !a.findings.empty()},
          {"triggers", a.triggers()},
          {"reasons", reasons},
          {"findings", findings},
          {"enough_data", a.enough_data},
          {"requests", a.requests},
          {"values", a.values},
          {"thresholds",
           {{"top_k", t.top_k},
            {"psi", t.psi},
            {"js", t.js},
            {"oov", t.oov},
            {"oov_min_words", t.oov_min_words},
            {"unknown_intent", t.unknown_intent},
            {"novelty", t.novelty},
            {"tool_call_invalid", t.tool_call_invalid},
            {"refusal_increase", t.refusal_increase},
            {"response_length_ratio", t.response_length_ratio},
            {"perplexity_ratio", t.perplexity_ratio},
            {"latency_p99_ms", t.latency_p99_ms},
            {"error_rate", t.error_rate},
            {"negative_feedback", t.negative_feedback},
            {"min_requests", t.min_requests}}},
          {"context", context}};
}

std::string report_markdown(const Analysis& a, const Thresholds& t, const json& context) {
  std::ostringstream md;
  md << "# Monitor report\n\n";
  if (!a.enough_data)
    md << "**Not enough data**: " << a.requests << " request(s) in the window, fewer than "
       << t.min_requests << "; no trigger raised.\n\n";
  if (a.findings.empty()) {
    md << "No threshold crossed over " << a.requests << " request(s).\n\n";
  } else {
    md << "**Thresholds crossed** (" << a.requests << " requests):\n\n";
    for (const auto& f : a.findings) md << "- `" << f.trigger << "`: " << f.reason << "\n";
    md << "\n";
  }
  md << "| Signal | Value |\n|---|---|\n";
  for (auto it = a.values.begin(); it != a.values.end(); ++it)
    md << "| " << it.key() << " | " << (it->is_number() ? fmt(it->get<double>()) : it->dump())
       << " |\n";
  if (!context.empty()) md << "\n## Context\n\n```json\n" << context.dump(2) << "\n```\n";
  return md.str();
}

}  // namespace llmops::monitor
