// Data-parallel training of trainer/torch-lm (`distributed:` in the step's `with:`): the step's
// process launches the ranks and stays beside them, the way torchrun's agent does.
//
// The step writes a job folder (<scratch>/ddp: job.json, the packed data as train.bin/eval.bin),
// hosts the rendezvous store (rendezvous.hpp) on a free port, and starts `llmops-train-rank`
// once per rank: as its own children (launcher local, on loopback), or with one `srun` inside a
// Slurm job of several tasks (launcher srun: rank = SLURM_PROCID, the ranks on other nodes reach
// this node's store by its host name). Each rank builds the same model (model_setup.hpp), joins
// the Gloo group and trains on its share of every batch (trainer.hpp). Rank 0 reports metrics,
// progress and log lines as JSON lines in events.jsonl, which the step forwards to the engine;
// it writes the checkpoints, the model and result.json. Every rank's stderr is the step log.
//
// Faults: the step watches the ranks; the first that fails (exit status or signal) ends the
// others (SIGTERM, then SIGKILL after 5 s) and fails the step naming it. A rank whose parent dies
// is killed by the kernel (PR_SET_PDEATHSIG), so no rank outlives its step.
// Thread safety: run from the step's thread.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "llmops/plugin.hpp"
#include "trainers/torch_lm/data.hpp"
#include "trainers/torch_lm/model_setup.hpp"
#include "trainers/torch_lm/options.hpp"

namespace llmops::trainers {

struct TrainSummary {
  TrainResult result;
  int64_t parameters = 0;
  int world = 1;
};

// Launches the ranks and waits for them; the model is in `outputs` when it returns.
Result<TrainSummary> run_distributed(StepContext& ctx, const RunOptions& o, const ModelSpec& spec,
                                     const PackedData& train, const PackedData& eval,
                                     const ModelOutputs& outputs);

// job.json (format llmops.torch-lm.ddp-job, version 1) and result.json, both ways.
nlohmann::json job_to_json(const ModelSpec& spec, const TrainOptions& t, const ModelOutputs& out);
Status job_from_json(const nlohmann::json& j, ModelSpec& spec, TrainOptions& t, ModelOutputs& out);
nlohmann::json summary_to_json(const TrainSummary& s);
TrainSummary summary_from_json(const nlohmann::json& j);

// An integer environment variable, or `fallback` when unset or not a whole number.
int env_int(const char* name, int fallback);

// The rank program (llmops-train-rank): `--job DIR [--rank R --world W]`, else the rank from
// SLURM_PROCID / SLURM_NTASKS. Returns the exit status.
int train_rank_main(int argc, char** argv);

}  // namespace llmops::trainers
