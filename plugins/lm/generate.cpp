// Autoregressive generation with a KV cache: one forward over the prompt, then one position per
// step. Greedy when temperature is 0; otherwise temperature, top-k and top-p sampling from a
// generator seeded by options.seed.
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "llama.hpp"
#include "ops.hpp"

namespace llmops::lm {

std::vector<int64_t> LlamaModel::generate(const std::vector<int64_t>& prompt,
                                          const GenerationOptions& opt) const {
  c10::InferenceMode guard;
  std::vector<int64_t> out = prompt;
  if (prompt.empty() || opt.max_new_tokens <= 0) return out;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);
  KVCache cache;
  auto ids = at::tensor(prompt, at::kLong).view({1, -1});
  for (int64_t step = 0; step < opt.max_new_tokens; ++step) {
    auto logits = forward(ids, &cache).select(1, -1).squeeze(0);  // [V]
    const int64_t next = ops::pick_token(logits, opt, gen);
    out.push_back(next);
    if (opt.on_token && !opt.on_token(next)) break;
    if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), next) != opt.stop_tokens.end())
      break;
    ids = at::full({1, 1}, next, at::kLong);
  }
  return out;
}

int64_t ops::pick_token(const at::Tensor& logits, const GenerationOptions& opt,
                        at::Generator& gen) {
  if (opt.temperature <= 0) return logits.argmax().item<int64_t>();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto l = logits / opt.temperature;
  if (opt.top_k > 0 && opt.top_k < l.size(0)) {
    auto kth = std::get<0>(l.topk(opt.top_k)).select(0, -1);
    l = l.masked_fill(l < kth, neg_inf);
  }
  if (opt.top_p < 1.0) {
    auto [sorted, idx] = l.sort(-1, /*descending=*/true);
    auto probs = sorted.softmax(-1);
    // Drop a token once the ones before it already reach top_p (the first always stays).
    auto drop = (probs.cumsum(-1) - probs) >= opt.top_p;
    l = l.masked_fill(at::zeros_like(drop).scatter(0, idx, drop), neg_inf);
  }
  return at::multinomial(l.softmax(-1), 1, false, gen).item<int64_t>();
}

}  // namespace llmops::lm
