#include "perplexity.hpp"

#include <algorithm>
#include <cmath>

#include "lm/chat.hpp"
#include "lm/model.hpp"
#include "lm/tokenizer.hpp"

namespace llmops::monitor {
namespace fs = std::filesystem;

Result<PerplexityResult> prompt_perplexity(const fs::path& model_dir, const fs::path& tokenizer,
                                           const std::vector<std::string>& live,
                                           const std::vector<std::string>& reference,
                                           size_t max_prompts) {
  auto model = lm::Model::load(model_dir);
  if (!model) return model.status();
  fs::path tok_path = tokenizer;
  std::error_code ec;
  if (tok_path.empty()) tok_path = model_dir / "tokenizer.json";
  if (fs::is_directory(tok_path, ec)) tok_path /= "tokenizer.json";
  auto tok = lm::Tokenizer::load(tok_path);
  if (!tok) return tok.status();
  const int64_t vocab = model->config().vocab_size;
  const auto ctx_len = static_cast<size_t>(model->config().max_position_embeddings);
  auto score = [&](const std::vector<std::string>& prompts, int64_t& used) -> Result<double> {
    double nll = 0, tokens = 0;
    for (size_t i = 0; i < prompts.size() && i < max_prompts; ++i) {
      const auto text = lm::render_chatml({{"user", prompts[i], {}}});
      auto ids = tok->encode(text);
      if (ids.size() < 2) continue;
      if (ids.size() > ctx_len) ids.resize(ctx_len);
      // A tokenizer larger than the model (test fixtures): out-of-range ids become 0, as in serve.
      for (auto& id : ids)
        if (id >= vocab) id = 0;
      const auto n = static_cast<int64_t>(ids.size());
      auto loss = model->loss(lm::RawTensor::from_int64({1, n}, ids));
      if (!loss) return loss.status();
      nll += *loss * static_cast<double>(n - 1);
      tokens += static_cast<double>(n - 1);
      ++used;
    }
    return tokens > 0 ? std::exp(nll / tokens) : 0.0;
  };
  PerplexityResult r;
  auto l = score(live, r.live_prompts);
  if (!l) return l.status();
  auto f = score(reference, r.reference_prompts);
  if (!f) return f.status();
  r.live = *l;
  r.reference = *f;
  return r;
}

}  // namespace llmops::monitor
