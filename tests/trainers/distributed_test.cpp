// Data-parallel trainer/torch-lm (`distributed:`): real rank processes (llmops-train-rank) on
// loopback with Gloo, against one process on the same data, seed and global batch; a rank killed
// mid-training; bad settings.
#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "lm/llama.hpp"
#include "tests/common/processes.hpp"
#include "trainer_test_util.hpp"
#include "trainers/torch_lm/run.hpp"

using namespace trainer_test;
using llmops::trainers::run_torch_lm;

namespace {

struct RankBinary {
  RankBinary() {
    ::setenv("LLMOPS_TRAIN_RANK", LLMOPS_PLUGIN_BUILD_DIR "/llmops-train-rank", 1);
    ::unsetenv("SLURM_JOB_ID");
  }
};

json base_params(int64_t steps) {
  return {{"hidden", 32},  {"layers", 2},     {"heads", 2},     {"vocab", 300},
          {"seq_len", 64}, {"batch_size", 8}, {"steps", steps}, {"threads", 1},
          {"seed", 5},     {"eval_every", 5}, {"lr", 3e-3}};
}

struct Trained {
  llmops::Status status;
  std::unique_ptr<FakeContext> ctx;
  json report() const { return json::parse(read_file(ctx->outputs.at("report") / "report.json")); }
};

Trained train(const fs::path& work, const fs::path& data, const json& params,
              const fs::path& base = {}) {
  auto ctx = std::make_unique<FakeContext>(work, params);
  ctx->add_input("train", data, "dataset");
  if (!base.empty()) ctx->add_input("base", base, "model");
  auto st = run_torch_lm(*ctx);
  return {st, std::move(ctx)};
}

// Loss curves agree to `rel` at every step.
void check_curves(const json& a, const json& b, double rel) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i][1], y = b[i][1];
    INFO("step " << a[i][0] << ": " << x << " vs " << y);
    CHECK(std::abs(x - y) <= rel * std::abs(x));
  }
}

// Every tensor of the two HF folders agrees to `tol` (absolute, scaled by the magnitude).
void check_weights(const fs::path& a, const fs::path& b, double tol) {
  auto ma = llmops::lm::LlamaModel::load(a), mb = llmops::lm::LlamaModel::load(b);
  REQUIRE(ma.is_ok());
  REQUIRE(mb.is_ok());
  auto wa = ma->named_weights(), wb = mb->named_weights();
  REQUIRE(wa.size() == wb.size());
  double worst = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    REQUIRE(wa[i].first == wb[i].first);
    const double scale = std::max(1.0, wa[i].second.abs().max().item<double>());
    worst = std::max(worst, (wa[i].second - wb[i].second).abs().max().item<double>() / scale);
  }
  INFO("largest difference " << worst);
  CHECK(worst <= tol);
}

// Pids of the rank processes whose command line names `dir` (their job folder is below it).
std::vector<pid_t> ranks_below(const fs::path& dir, const std::string& rank = "") {
  std::vector<std::string> parts = {"llmops-train-rank", dir.string()};
  if (!rank.empty()) parts.push_back("--rank " + rank + " ");
  return llmops::testing::processes_with(parts);
}

}  // namespace

TEST_CASE("two ranks train like one process on the same global batch", "[trainer][ddp]") {
  RankBinary rb;
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 200);
  auto p2 = base_params(20);
  p2["distributed"] = {{"world_size", 2}, {"timeout", 60}};
  auto one = train(tmp.path / "one", tmp.path / "train.jsonl", base_params(20));
  INFO(one.status.message());
  REQUIRE(one.status.is_ok());
  auto two = train(tmp.path / "two", tmp.path / "train.jsonl", p2);
  INFO(two.status.message());
  REQUIRE(two.status.is_ok());
  CHECK(two.report()["world_size"] == 2);
  CHECK(two.ctx->final_metric("world_size") == 2);
  CHECK(two.ctx->final_metric("allreduce_share") > 0);
  // Rank 0's metrics and progress reach the step as one process's do.
  CHECK(two.ctx->metric_series("loss").size() == 20);
  CHECK(two.ctx->metric_series("eval_loss").size() == one.ctx->metric_series("eval_loss").size());
  check_curves(one.report()["loss_curve"], two.report()["loss_curve"], 1e-4);
  check_weights(one.ctx->outputs.at("model"), two.ctx->outputs.at("model"), 1e-4);
  CHECK(ranks_below(tmp.path).empty());

  // Full fine-tuning and LoRA from that model: the same on two ranks as on one.
  const auto base = one.ctx->outputs.at("model");
  for (const std::string mode : {"full", "lora"}) {
    json p = {{"mode", mode}, {"seq_len", 64}, {"batch_size", 8}, {"steps", 8},
              {"threads", 1}, {"seed", 5},     {"lr", 1e-3}};
    if (mode == "full") p["argument_weight"] = 3;  // the flags reach the ranks with the rows
    if (mode == "lora") p["lora"] = {{"rank", 4}, {"dropout", 0}};
    auto q = p;
    q["distributed"] = {{"world_size", 2}, {"timeout", 60}};
    auto a = train(tmp.path / (mode + "1"), tmp.path / "train.jsonl", p, base);
    auto b = train(tmp.path / (mode + "2"), tmp.path / "train.jsonl", q, base);
    INFO(mode << ": " << a.status.message() << " / " << b.status.message());
    REQUIRE(a.status.is_ok());
    REQUIRE(b.status.is_ok());
    check_curves(a.report()["loss_curve"], b.report()["loss_curve"], 1e-4);
    check_weights(a.ctx->outputs.at("model"), b.ctx->outputs.at("model"), 1e-4);
    if (mode == "lora")
      CHECK(fs::exists(b.ctx->outputs.at("adapter") / "adapter_model.safetensors"));
  }
}

TEST_CASE("a killed rank fails the step at once and a retry on one rank resumes",
          "[trainer][ddp]") {
  RankBinary rb;
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 200);
  const int64_t steps = 600;
  auto p = base_params(steps);
  p["checkpoint_every"] = 5;
  p["distributed"] = {{"world_size", 2}, {"timeout", 30}};
  const auto work = tmp.path / "work";

  Trained killed;
  std::thread runner([&] { killed = train(work, tmp.path / "train.jsonl", p); });
  // Once a checkpoint exists, rank 1 dies as in an out-of-memory kill.
  const bool checkpointed = [&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < end) {
      std::error_code ec;
      if (fs::exists(work / "checkpoints" / "step-00000005" / "state.json", ec)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }();
  std::vector<pid_t> victims = ranks_below(tmp.path, "1");
  const auto t0 = std::chrono::steady_clock::now();
  for (pid_t v : victims) ::kill(v, SIGKILL);
  runner.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(checkpointed);
  REQUIRE(victims.size() == 1);
  INFO(killed.status.message());
  CHECK_FALSE(killed.status.is_ok());
  CHECK(killed.status.message().find("rank 1 was killed by signal 9") != std::string::npos);
  CHECK(took < 30);  // well inside the collective timeout: a dead peer is seen at once
  CHECK(ranks_below(tmp.path).empty());

  // The retry runs on one process and resumes from rank 0's last checkpoint.
  auto q = p;
  q.erase("distributed");
  auto resumed = train(work, tmp.path / "train.jsonl", q);
  INFO(resumed.status.message());
  REQUIRE(resumed.status.is_ok());
  const auto r = resumed.report();
  CHECK(r["resumed_from"].get<int64_t>() >= 5);
  CHECK(r["steps"] == steps);
  CHECK(resumed.ctx->metric_series("loss").size() == static_cast<size_t>(steps));
}

TEST_CASE("bad distributed settings are refused with what to do", "[trainer][ddp]") {
  RankBinary rb;
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 40);
  auto attempt = [&](const json& dist, int64_t batch = 8) {
    auto p = base_params(4);
    p["batch_size"] = batch;
    p["distributed"] = dist;
    return train(tmp.path / ("w" + std::to_string(std::rand())), tmp.path / "train.jsonl", p)
        .status.message();
  };
  CHECK(attempt({{"world_size", 3}})
            .find("batch_size 8 is not a multiple of distributed.world_size 3") !=
        std::string::npos);
  CHECK(attempt({{"world_size", 2}, {"backend", "nccl"}}).find("use backend gloo") !=
        std::string::npos);
  CHECK(attempt({{"launcher", "srun"}, {"world_size", 2}}).find("not running inside a Slurm job") !=
        std::string::npos);
  CHECK(attempt(json::object()).find("world_size is required") != std::string::npos);
  ::setenv("LLMOPS_TRAIN_RANK", "/nonexistent/llmops-train-rank", 1);
  CHECK(attempt({{"world_size", 2}}).find("(llmops-train-rank) is not an executable file") !=
        std::string::npos);
}
