// trainer/torch-lm: trains Llama-family chat models with libtorch (from scratch, full fine-tune
// or LoRA). The work is in run.cpp; this file is the plugin boundary.
#include "llmops/plugin.hpp"
#include "trainers/torch_lm/run.hpp"

namespace {
class TorchLmTrainer : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    return llmops::trainers::run_torch_lm(ctx);
  }
};
}  // namespace

LLMOPS_PLUGIN(TorchLmTrainer, "trainer", "torch-lm", "1.0.0",
              "Trains Llama-family chat models on CPU with libtorch: from scratch, full "
              "fine-tune or LoRA, with checkpoints that survive a kill",
              llmops::trainers::kTorchLmParamsSchema, llmops::trainers::kTorchLmInputs,
              llmops::trainers::kTorchLmOutputs, "subprocess", llmops::kCacheable)
