// Batched decoding: LlamaModel::decode_step and BatchGenerator; see batch.hpp.
#include "batch.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>

#include "fused.hpp"
#include "llama.hpp"
#include "model.hpp"
#include "ops.hpp"

namespace llmops::lm {

using fused::rms_norm;

at::Tensor LlamaModel::decode_step(const at::Tensor& ids,
                                   const std::vector<KVCache*>& caches) const {
  const auto& c = config;
  const int64_t B = ids.size(0);
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, D = c.head_dim;
  std::vector<int64_t> past(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    KVCache& cache = *caches[static_cast<size_t>(b)];
    if (cache.k.size() != layers.size() || cache.length == 0)
      throw std::invalid_argument("decode_step needs caches filled by a prefill");
    past[static_cast<size_t>(b)] = cache.length;
  }
  auto x = at::embedding(embed, ids.view({B, 1}));  // [B, 1, hidden]
  // Each row at its own position; the same tables and kernels as forward().
  auto pos = at::tensor(past, at::kLong).to(at::kFloat).view({B, 1});
  const auto rt = ops::rope_tables(inv_freq_, pos);
  std::vector<at::Tensor> rows(static_cast<size_t>(B));
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& L = layers[i];
    auto h = rms_norm(x, L.input_norm, c.rms_norm_eps);
    auto q = fused::rope(L.q.forward(h, false).view({B, 1, nh, D}), rt.cos_q, rt.sin_q);
    auto k = fused::rope(L.k.forward(h, false).view({B, 1, nkv, D}), rt.cos, rt.sin);
    auto v = L.v.forward(h, false).view({B, 1, nkv, D}).transpose(1, 2);
    // Attention per sequence: each attends to its own cached positions.
    for (int64_t b = 0; b < B; ++b) {
      KVCache& cache = *caches[static_cast<size_t>(b)];
      auto kb = at::cat({cache.k[i], k.slice(0, b, b + 1)}, 2);
      auto vb = at::cat({cache.v[i], v.slice(0, b, b + 1)}, 2);
      cache.k[i] = kb;
      cache.v[i] = vb;
      if (nkv != nh) {
        kb = kb.repeat_interleave(nh / nkv, 1);
        vb = vb.repeat_interleave(nh / nkv, 1);
      }
      auto qb = q.slice(0, b, b + 1);
      auto probs = fused::causal_softmax(at::matmul(qb, kb.transpose(2, 3))).to(qb.scalar_type());
      rows[static_cast<size_t>(b)] = at::matmul(probs, vb).transpose(1, 2).reshape({1, 1, nh * D});
    }
    x = x + L.o.forward(at::cat(rows, 0), false);
    h = rms_norm(x, L.post_norm, c.rms_norm_eps);
    x = x + L.down.forward(at::silu(L.gate.forward(h, false)) * L.up.forward(h, false), false);
  }
  for (auto* cache : caches) cache->length += 1;
  x = rms_norm(x, norm, c.rms_norm_eps);
  return at::linear(x, lm_head).to(at::kFloat).view({B, -1});
}

namespace {

// One request. The worker owns cache, gen, produced and last; the rest is shared under mu.
struct Request {
  std::vector<int64_t> prompt;
  GenerationOptions opt;
  KVCache cache;
  at::Generator gen;
  int64_t produced = 0;
  int64_t last = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> tokens;
  bool done = false;
  Status error;
  std::atomic<bool> cancelled{false};

  void deliver(int64_t tok) {
    std::lock_guard l(mu);
    tokens.push_back(tok);
    cv.notify_all();
  }
  void finish(Status s = Status::ok()) {
    std::lock_guard l(mu);
    done = true;
    error = std::move(s);
    cv.notify_all();
  }
};

bool is_stop(const GenerationOptions& o, int64_t tok) {
  return std::find(o.stop_tokens.begin(), o.stop_tokens.end(), tok) != o.stop_tokens.end();
}

}  // namespace

struct BatchGenerator::Impl {
  const Model& model;
  const int max_batch;
  mutable std::mutex mu;
  std::condition_variable work;
  std::deque<std::shared_ptr<Request>> pending;
  bool stopping = false;
  BatchStats stats;
  std::thread worker;

  Impl(const Model& m, int n) : model(m), max_batch(std::max(1, n)) {
    worker = std::thread([this] { run(); });
  }

  // Takes the request's new token; true when the request is over.
  bool advance(Request& r, int64_t tok) {
    r.deliver(tok);
    r.last = tok;
    ++r.produced;
    return is_stop(r.opt, tok) || r.produced >= r.opt.max_new_tokens || r.cancelled;
  }

  void run() {
    c10::InferenceMode guard;
    const LlamaModel& m = model.impl();
    std::vector<std::shared_ptr<Request>> active;
    for (;;) {
      std::vector<std::shared_ptr<Request>> admit;
      {
        std::unique_lock l(mu);
        work.wait(l, [&] { return stopping || !pending.empty() || !active.empty(); });
        if (stopping) {
          for (auto& r : pending) r->finish(Status::cancelled("the model is being unloaded"));
          for (auto& r : active) r->finish(Status::cancelled("the model is being unloaded"));
          pending.clear();
          return;
        }
        while (!pending.empty() && active.size() + admit.size() < static_cast<size_t>(max_batch)) {
          admit.push_back(std::move(pending.front()));
          pending.pop_front();
        }
        stats.prefills += static_cast<int64_t>(admit.size());
      }
      for (auto& r : admit) {
        if (r->cancelled) {
          r->finish();
          continue;
        }
        try {
          r->gen = at::make_generator<at::CPUGeneratorImpl>(r->opt.seed);
          auto ids = at::tensor(r->prompt, at::kLong).view({1, -1});
          auto logits = m.forward(ids, &r->cache).select(1, -1).squeeze(0);
          if (advance(*r, ops::pick_token(logits, r->opt, r->gen)))
            r->finish();
          else
            active.push_back(r);
        } catch (const std::exception& e) {
          r->finish(Status::internal(std::string("generation failed: ") + e.what()));
        }
      }
      std::erase_if(active, [](const std::shared_ptr<Request>& r) {
        if (!r->cancelled) return false;
        r->finish();
        return true;
      });
      if (active.empty()) continue;
      try {
        std::vector<int64_t> last;
        std::vector<KVCache*> caches;
        for (auto& r : active) {
          last.push_back(r->last);
          caches.push_back(&r->cache);
        }
        auto logits = m.decode_step(at::tensor(last, at::kLong), caches);
        std::vector<std::shared_ptr<Request>> still;
        for (size_t b = 0; b < active.size(); ++b) {
          Request& r = *active[b];
          if (advance(r, ops::pick_token(logits.select(0, static_cast<int64_t>(b)), r.opt, r.gen)))
            r.finish();
          else
            still.push_back(active[b]);
        }
        std::lock_guard l(mu);
        ++stats.steps;
        stats.rows += static_cast<int64_t>(active.size());
        stats.max_rows = std::max(stats.max_rows, static_cast<int64_t>(active.size()));
        active.swap(still);
        stats.running = static_cast<int64_t>(active.size());
      } catch (const std::exception& e) {
        for (auto& r : active)
          r->finish(Status::internal(std::string("generation failed: ") + e.what()));
        active.clear();
      }
    }
  }
};

BatchGenerator::BatchGenerator(const Model& model, int max_batch)
    : impl_(std::make_unique<Impl>(model, max_batch)) {}

BatchGenerator::~BatchGenerator() {
  {
    std::lock_guard l(impl_->mu);
    impl_->stopping = true;
  }
  impl_->work.notify_all();
  impl_->worker.join();
}

int BatchGenerator::max_batch() const {
  return impl_->max_batch;
}

BatchStats BatchGenerator::stats() const {
  std::lock_guard l(impl_->mu);
  return impl_->stats;
}

Result<std::vector<int64_t>> BatchGenerator::generate(const std::vector<int64_t>& prompt,
                                                      const GenerationOptions& options) {
  if (prompt.empty()) return Status::invalid("generation needs a non-empty prompt");
  const int64_t vocab = impl_->model.config().vocab_size;
  for (auto id : prompt)
    if (id < 0 || id >= vocab)
      return Status::invalid("prompt id " + std::to_string(id) + " is outside the vocabulary");
  std::vector<int64_t> out = prompt;
  if (options.max_new_tokens <= 0) return out;
  auto r = std::make_shared<Request>();
  r->prompt = prompt;
  r->opt = options;
  r->opt.on_token = nullptr;  // called here, on the caller's thread
  {
    std::lock_guard l(impl_->mu);
    if (impl_->stopping) return Status::cancelled("the model is being unloaded");
    impl_->pending.push_back(r);
  }
  impl_->work.notify_one();
  size_t seen = 0;
  for (;;) {
    std::vector<int64_t> fresh;
    bool done = false;
    Status error;
    {
      std::unique_lock l(r->mu);
      r->cv.wait(l, [&] { return r->tokens.size() > seen || r->done; });
      fresh.assign(r->tokens.begin() + static_cast<std::ptrdiff_t>(seen), r->tokens.end());
      seen = r->tokens.size();
      done = r->done;
      error = r->error;
    }
    for (auto tok : fresh) {
      out.push_back(tok);
      if (options.on_token && !options.on_token(tok)) {
        r->cancelled = true;  // the worker drops it at its next step
        return out;
      }
      if (is_stop(options, tok)) return out;
    }
    if (done) {
      if (!error.is_ok()) return error;
      return out;
    }
  }
}

}  // namespace llmops::lm
