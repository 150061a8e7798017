// BatchGenerator: many concurrent generate() calls on one model, decoded together. A worker
// thread owns every sequence's KV cache: it runs a new request's prompt alone (prefill, exactly as
// Model::generate does), then advances all running sequences by one token per forward pass
// (LlamaModel::decode_step: the projections and the MLP see a [B, 1, hidden] batch; attention
// stays per sequence, since each has its own length). A sequence joins the batch at the next step
// and leaves it as soon as it ends, so short requests do not wait for long ones.
//
// Results are those of Model::generate: greedy decoding gives the same tokens, and sampling draws
// from a generator seeded per request, so a seed repeats. options.on_token runs on the calling
// thread (a slow streaming client never stalls the batch); returning false ends that request.
// Torch-free header. Thread safety: generate() from any number of threads; the model must
// outlive the generator and must not change while it runs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "generation.hpp"
#include "llmops/status.hpp"

namespace llmops::lm {

class Model;

struct BatchStats {
  int64_t steps = 0;     // batched decode steps
  int64_t rows = 0;      // tokens those steps produced (sum of batch sizes)
  int64_t max_rows = 0;  // largest batch so far
  int64_t prefills = 0;  // requests started
  int64_t running = 0;   // sequences in the batch now
};

class BatchGenerator {
 public:
  // max_batch: sequences decoded per forward pass (at least 1); more requests wait their turn.
  BatchGenerator(const Model& model, int max_batch);
  ~BatchGenerator();  // fails requests still waiting, then joins the worker
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Same contract as Model::generate: returns prompt + new tokens.
  Result<std::vector<int64_t>> generate(const std::vector<int64_t>& prompt,
                                        const GenerationOptions& options);
  BatchStats stats() const;
  int max_batch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmops::lm
