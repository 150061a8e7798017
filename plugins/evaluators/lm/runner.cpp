// Loss and greedy generation per sample; see runner.hpp.
#include "runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "lm/chat.hpp"
#include "lm/model.hpp"
#include "lm/tokenizer.hpp"

namespace llmops::evaluators {

namespace fs = std::filesystem;

namespace {

std::vector<lm::ChatMessage> to_chat(const std::vector<Message>& ms, size_t end) {
  std::vector<lm::ChatMessage> out;
  for (size_t i = 0; i < end && i < ms.size(); ++i) {
    lm::ChatMessage m{ms[i].role, ms[i].content, {}};
    for (const auto& c : ms[i].tool_calls) m.tool_calls.push_back({c.name, c.arguments_json});
    out.push_back(std::move(m));
  }
  return out;
}

// Out-of-vocabulary ids: clamp (test models) or a clear error.
Status fit_vocab(std::vector<int64_t>& ids, int64_t vocab, bool clamp, const std::string& id) {
  for (auto& t : ids) {
    if (t >= 0 && t < vocab) continue;
    if (!clamp)
      return Status::invalid("sample " + id + ": token id " + std::to_string(t) +
                             " is outside the model's vocabulary (" + std::to_string(vocab) +
                             "); the tokenizer does not belong to this model");
    t = ((t % vocab) + vocab) % vocab;
  }
  return Status::ok();
}

// Summed next-token NLL over positions whose mask is 1, from logits [1, T, V].
Result<std::pair<double, int64_t>> masked_nll(const lm::Model& model,
                                              const std::vector<int64_t>& ids,
                                              const std::vector<uint8_t>& mask) {
  const auto T = static_cast<int64_t>(ids.size());
  if (T < 2) return std::pair<double, int64_t>{0.0, 0};
  auto logits = model.logits(lm::RawTensor::from_int64({1, T}, ids));
  if (!logits) return logits.status();
  const auto V = logits->shape.back();
  const auto f = logits->to_float();
  double nll = 0;
  int64_t n = 0;
  for (int64_t t = 1; t < T; ++t) {
    if (!mask[static_cast<size_t>(t)]) continue;
    const float* row = f.data() + (t - 1) * V;
    const float mx = *std::max_element(row, row + V);
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(row[v] - mx));
    nll += std::log(sum) + mx - row[ids[static_cast<size_t>(t)]];
    ++n;
  }
  return std::pair<double, int64_t>{nll, n};
}

}  // namespace

Result<fs::path> find_tokenizer(const fs::path& model_dir, const fs::path& explicit_path) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (fs::is_directory(explicit_path, ec)) {
      if (fs::is_regular_file(explicit_path / "tokenizer.json", ec))
        return explicit_path / "tokenizer.json";
      return Status::not_found("the tokenizer input " + explicit_path.string() +
                               " holds no tokenizer.json");
    }
    if (fs::is_regular_file(explicit_path, ec)) return explicit_path;
    return Status::not_found("the tokenizer input " + explicit_path.string() + " does not exist");
  }
  if (fs::is_regular_file(model_dir / "tokenizer.json", ec)) return model_dir / "tokenizer.json";
  return Status::not_found("the model folder " + model_dir.string() +
                           " has no tokenizer.json; give the step a `tokenizer` input");
}

Result<std::vector<SampleOutcome>> run_model(const fs::path& model_dir, const fs::path& tok_path,
                                             const std::vector<Sample>& samples,
                                             const RunOptions& opt) {
  auto tok = lm::Tokenizer::load(tok_path);
  if (!tok) return tok.status();
  auto model = lm::Model::load(model_dir);
  if (!model) return model.status();
  const auto& cfg = model->config();
  const int64_t vocab = cfg.vocab_size;
  const int64_t max_pos = std::max<int64_t>(2, cfg.max_position_embeddings);
  lm::GenerationOptions gen;
  gen.max_new_tokens = std::max<int64_t>(1, std::min(opt.max_new_tokens, max_pos - 1));
  gen.temperature = 0;
  if (auto end = tok->token_to_id("<|im_end|>")) gen.stop_tokens.push_back(*end);
  if (cfg.eos_token_id >= 0) gen.stop_tokens.push_back(cfg.eos_token_id);
  gen.on_token = [&](int64_t) { return !opt.cancelled(); };

  std::vector<SampleOutcome> out(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    if (opt.cancelled()) return Status::cancelled("evaluation cancelled");
    const auto& s = samples[i];
    auto& o = out[i];
    const auto start = std::chrono::steady_clock::now();
    // Loss over every assistant token of the conversation (the most recent max_pos tokens).
    auto enc = lm::encode_chatml(*tok, to_chat(s.messages, s.messages.size()), false);
    if (!enc) return Status::invalid("sample " + s.id + ": " + enc.status().message());
    if (static_cast<int64_t>(enc->ids.size()) > max_pos) {
      const auto cut = enc->ids.size() - static_cast<size_t>(max_pos);
      enc->ids.erase(enc->ids.begin(), enc->ids.begin() + static_cast<std::ptrdiff_t>(cut));
      enc->loss_mask.erase(enc->loss_mask.begin(),
                           enc->loss_mask.begin() + static_cast<std::ptrdiff_t>(cut));
    }
    if (auto st = fit_vocab(enc->ids, vocab, opt.clamp_token_ids, s.id); !st) return st;
    auto nll = masked_nll(*model, enc->ids, enc->loss_mask);
    if (!nll) return Status::internal("sample " + s.id + ": " + nll.status().message());
    o.nll = nll->first;
    o.loss_tokens = nll->second;
    // Greedy generation of the target turn from the prompt before it.
    auto prompt = lm::encode_chatml(*tok, to_chat(s.messages, s.target), true);
    if (!prompt) return Status::invalid("sample " + s.id + ": " + prompt.status().message());
    auto& p = prompt->ids;
    const auto room = static_cast<size_t>(max_pos - gen.max_new_tokens);
    if (p.size() > room)
      p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(p.size() - room));
    if (auto st = fit_vocab(p, vocab, opt.clamp_token_ids, s.id); !st) return st;
    auto ids = model->generate(p, gen);
    if (!ids) return Status::internal("sample " + s.id + ": " + ids.status().message());
    std::vector<int64_t> fresh(ids->begin() + static_cast<std::ptrdiff_t>(p.size()), ids->end());
    if (!fresh.empty() && std::find(gen.stop_tokens.begin(), gen.stop_tokens.end(), fresh.back()) !=
                              gen.stop_tokens.end())
      fresh.pop_back();
    o.generated_tokens = static_cast<int64_t>(fresh.size());
    o.generated = tok->decode(fresh, /*skip_special_tokens=*/true);
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    opt.progress(i + 1, samples.size());
  }
  return out;
}

}  // namespace llmops::evaluators
