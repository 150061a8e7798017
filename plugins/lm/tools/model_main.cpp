// llmops-model: inspect, check and run Hugging Face Llama-family checkpoints.
//   llmops-model info DIR [--json]
//   llmops-model check DIR --expected FILE [--adapter DIR] [--merge] [--json]
//   llmops-model generate DIR --ids 1,2,3 [-n 10] [--temperature T] [--top-p P] [--seed S]
// The CLI runs it as `llmops model ...`. Exit codes: 0 ok, 1 check beyond tolerance, 2 bad usage
// or input.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lm/model.hpp"

using namespace llmops::lm;
using nlohmann::json;

namespace {

int fail(const llmops::Status& s) {
  std::cerr << "llmops-model: error: " << s.message() << "\n";
  return 2;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

int info(const std::string& dir, bool as_json) {
  auto r = inspect_model(dir);
  if (!r) return fail(r.status());
  const auto& c = r->config;
  if (as_json) {
    json j = {{"architecture", c.architecture},
              {"model_type", c.model_type},
              {"parameters", r->parameters},
              {"dtypes", r->dtypes},
              {"tensors", r->tensors},
              {"bytes", r->bytes},
              {"files", r->files},
              {"vocab_size", c.vocab_size},
              {"hidden_size", c.hidden_size},
              {"intermediate_size", c.intermediate_size},
              {"num_hidden_layers", c.num_hidden_layers},
              {"num_attention_heads", c.num_attention_heads},
              {"num_key_value_heads", c.num_key_value_heads},
              {"head_dim", c.head_dim},
              {"rope_theta", c.rope_theta},
              {"tie_word_embeddings", c.tie_word_embeddings}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "architecture: " << c.architecture << " (" << c.model_type << ")\n"
            << "parameters:   " << r->parameters << "\n"
            << "dtypes:      ";
  for (const auto& [d, n] : r->dtypes) std::cout << " " << d << " x" << n;
  std::cout << "\nlayers:       " << c.num_hidden_layers << ", hidden " << c.hidden_size
            << ", intermediate " << c.intermediate_size << "\n"
            << "attention:    " << c.num_attention_heads << " heads, " << c.num_key_value_heads
            << " key/value heads, head_dim " << c.head_dim << ", rope theta " << c.rope_theta
            << "\nvocab:        " << c.vocab_size
            << (c.tie_word_embeddings ? " (tied embeddings)" : "") << "\n"
            << "files:        " << r->files.size() << " (" << r->bytes << " bytes of tensors)\n";
  return 0;
}

int check(const std::string& dir, const std::string& expected, const std::string& adapter,
          bool merge, int64_t prompt_length, double tol_logits, double tol_loss, bool as_json) {
  auto exp = read_safetensors(expected);
  if (!exp) return fail(exp.status());
  auto& t = exp->tensors;
  if (!t.count("input_ids")) return fail(llmops::Status::invalid(expected + ": no input_ids"));
  auto model = Model::load(dir);
  if (!model) return fail(model.status());
  if (!adapter.empty()) {
    if (auto s = model->load_adapter(adapter); !s) return fail(s);
    if (merge) model->merge_adapter();
  }
  const auto& ids = t.at("input_ids");
  json out = json::object();
  bool ok = true;
  if (t.count("logits")) {
    auto l = model->logits(ids);
    if (!l) return fail(l.status());
    const auto& want = t.at("logits");
    if (l->shape != want.shape) return fail(llmops::Status::invalid("logits shape differs"));
    const double d = max_diff(l->to_float(), want.to_float());
    out["logits"] = {{"max_diff", d}, {"tolerance", tol_logits}, {"ok", d <= tol_logits}};
    ok &= d <= tol_logits;
  }
  if (t.count("loss")) {
    auto l = model->loss(ids);
    if (!l) return fail(l.status());
    const double d = std::abs(*l - t.at("loss").to_float().at(0));
    out["loss"] = {{"value", *l}, {"max_diff", d}, {"tolerance", tol_loss}, {"ok", d <= tol_loss}};
    ok &= d <= tol_loss;
  }
  if (t.count("greedy")) {
    auto want = t.at("greedy").to_int64();
    if (auto it = exp->metadata.find("prompt_length"); it != exp->metadata.end())
      prompt_length = std::stoll(it->second);
    auto row = ids.to_int64();
    if (prompt_length < 1 || prompt_length > ids.shape.at(1) ||
        prompt_length > static_cast<int64_t>(want.size()))
      return fail(llmops::Status::invalid("bad --prompt-length"));
    std::vector<int64_t> prompt(row.begin(), row.begin() + prompt_length);
    GenerationOptions opt;
    opt.max_new_tokens = static_cast<int64_t>(want.size()) - prompt_length;
    if (model->config().eos_token_id >= 0) opt.stop_tokens = {model->config().eos_token_id};
    auto got = model->generate(prompt, opt);
    if (!got) return fail(got.status());
    int64_t mismatches = 0;
    for (size_t i = 0; i < std::max(got->size(), want.size()); ++i)
      if (i >= got->size() || i >= want.size() || (*got)[i] != want[i]) ++mismatches;
    out["greedy"] = {{"tokens", *got}, {"mismatches", mismatches}, {"ok", mismatches == 0}};
    ok &= mismatches == 0;
  }
  if (out.empty()) return fail(llmops::Status::invalid(expected + ": no logits, loss or greedy"));
  out["ok"] = ok;
  if (as_json) {
    std::cout << out.dump(2) << "\n";
  } else {
    for (auto& [k, v] : out.items()) {
      if (k == "ok") continue;
      std::cout << k << ": " << (v["ok"].get<bool>() ? "ok  " : "FAIL");
      if (v.contains("max_diff"))
        std::cout << "  max difference " << v["max_diff"].get<double>() << " (tolerance "
                  << v["tolerance"] << ")";
      if (v.contains("mismatches")) std::cout << "  " << v["mismatches"] << " token(s) differ";
      std::cout << "\n";
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Inspect, check and run Llama-family models in Hugging Face format", "llmops-model"};
  app.require_subcommand(1);
  std::string dir, expected, adapter, ids_text;
  bool as_json = false, merge = false;
  int64_t n = 16, prompt_length = 5, top_k = 0;
  double tol_logits = 1e-4, tol_loss = 1e-5, temperature = 0, top_p = 1.0;
  uint64_t seed = 0;
  std::vector<int64_t> stop;

  auto* info_cmd = app.add_subcommand("info", "Architecture, parameter count and dtypes");
  info_cmd->add_option("DIR", dir, "model folder")->required();
  info_cmd->add_flag("--json", as_json, "print JSON");

  auto* check_cmd =
      app.add_subcommand("check", "Compare the model's outputs with a reference file");
  check_cmd->add_option("DIR", dir, "model folder")->required();
  check_cmd->add_option("--expected", expected, "safetensors with input_ids and logits/loss/greedy")
      ->required();
  check_cmd->add_option("--adapter", adapter, "PEFT LoRA adapter folder to apply first");
  check_cmd->add_flag("--merge", merge, "merge the adapter into the weights before running");
  check_cmd->add_option("--prompt-length", prompt_length,
                        "greedy: prompt = first N ids of input_ids row 0 (default 5)");
  check_cmd->add_option("--logits-tolerance", tol_logits, "default 1e-4");
  check_cmd->add_option("--loss-tolerance", tol_loss, "default 1e-5");
  check_cmd->add_flag("--json", as_json, "print JSON");

  auto* gen_cmd = app.add_subcommand("generate", "Generate tokens from prompt ids");
  gen_cmd->add_option("DIR", dir, "model folder")->required();
  gen_cmd->add_option("--ids", ids_text, "prompt token ids, comma-separated")->required();
  gen_cmd->add_option("--adapter", adapter, "PEFT LoRA adapter folder");
  gen_cmd->add_option("-n,--max-new-tokens", n, "tokens to generate (default 16)");
  gen_cmd->add_option("--temperature", temperature, "0 (default) is greedy");
  gen_cmd->add_option("--top-p", top_p, "nucleus sampling (default 1)");
  gen_cmd->add_option("--top-k", top_k, "top-k sampling (default off)");
  gen_cmd->add_option("--seed", seed, "sampling seed (default 0)");
  gen_cmd->add_option("--stop", stop, "stop token ids (default: the config's eos)")->delimiter(',');
  gen_cmd->add_flag("--json", as_json, "print JSON");

  CLI11_PARSE(app, argc, argv);
  if (*info_cmd) return info(dir, as_json);
  if (*check_cmd)
    return check(dir, expected, adapter, merge, prompt_length, tol_logits, tol_loss, as_json);

  std::vector<int64_t> prompt;
  std::stringstream ss(ids_text);
  for (std::string tok; std::getline(ss, tok, ',');) {
    try {
      prompt.push_back(std::stoll(tok));
    } catch (...) {
      return fail(llmops::Status::invalid("--ids: '" + tok + "' is not an integer"));
    }
  }
  auto model = Model::load(dir);
  if (!model) return fail(model.status());
  if (!adapter.empty())
    if (auto s = model->load_adapter(adapter); !s) return fail(s);
  GenerationOptions opt;
  opt.max_new_tokens = n;
  opt.temperature = temperature;
  opt.top_p = top_p;
  opt.top_k = top_k;
  opt.seed = seed;
  opt.stop_tokens = stop;
  if (stop.empty() && model->config().eos_token_id >= 0)
    opt.stop_tokens = {model->config().eos_token_id};
  auto out = model->generate(prompt, opt);
  if (!out) return fail(out.status());
  std::vector<int64_t> fresh(out->begin() + static_cast<long>(prompt.size()), out->end());
  if (as_json) {
    std::cout << json({{"ids", *out}, {"new_ids", fresh}}).dump() << "\n";
  } else {
    for (size_t i = 0; i < out->size(); ++i) std::cout << (i ? "," : "") << (*out)[i];
    std::cout << "\n";
  }
  return 0;
}
