// trainer/torch-lm's step: reads its parameters and inputs from the StepContext, prepares the
// tokenizer, data and model, trains (trainer.hpp) and writes the outputs. The plugin module and
// the tests call run_torch_lm(); kTorchLmParamsSchema is the descriptor's parameter schema.
//
// Inputs: train (OpenAI-chat JSONL file or folder, required), eval (same, optional: else every
// 1/eval_fraction-th conversation is held out), base (HF model folder: full fine-tune or LoRA),
// tokenizer (tokenizer.json or a folder with one; else the base's, else one is trained).
// Outputs: model (HF folder + tokenizer files), adapter (PEFT folder, LoRA mode), tokenizer,
// report (report.json).
// Checkpoints: every checkpoint_every steps into <work>/<step>/checkpoints, i.e. the parent of the
// attempt's folder (scratch_dir()/../..), which every attempt of the step shares, so a retry
// resumes where a killed attempt left off; `checkpoint_dir` overrides it. They are removed when
// the step succeeds (unless keep_checkpoints_after is true).
// Thread safety: call from the step's thread.
#pragma once

#include "llmops/plugin.hpp"

namespace llmops::trainers {

Status run_torch_lm(StepContext& ctx);

extern const char kTorchLmParamsSchema[];
extern const char kTorchLmInputs[];
extern const char kTorchLmOutputs[];

}  // namespace llmops::trainers
