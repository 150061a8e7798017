// The rank program of data-parallel training (llmops-train-rank); see distributed.hpp.
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "trainers/torch_lm/collective.hpp"
#include "trainers/torch_lm/distributed.hpp"
#include "trainers/torch_lm/trainer.hpp"

namespace llmops::trainers {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kUsage[] =
    "usage: llmops-train-rank --job DIR [--rank R --world W]\n"
    "One rank of trainer/torch-lm's data-parallel training. The trainer step starts it (locally,\n"
    "or through srun inside a Slurm job, where the rank comes from SLURM_PROCID); DIR is the job\n"
    "folder the step wrote (job.json, train.bin). It is not meant to be run by hand: use\n"
    "`distributed:` in the step's `with:` (docs/trainer.md).\n";

// Rank 0 reports to the step through events.jsonl; the other ranks write only their own lines
// (joined, errors) to stderr, the step log.
class RankObserver : public TrainObserver {
 public:
  RankObserver(int rank, const fs::path& events) : rank_(rank) {
    if (rank == 0) out_.open(events, std::ios::binary | std::ios::app);
  }
  void progress(int64_t step, int64_t total, const std::string& note) override {
    emit({{"t", "progress"}, {"step", step}, {"total", total}, {"note", note}});
  }
  void metric(const std::string& name, double value, int64_t step) override {
    emit({{"t", "metric"}, {"name", name}, {"value", value}, {"step", step}});
  }
  // The ranks run the same loop: rank 0's lines are the step's; the others would repeat them.
  void log(const std::string& m) override { emit({{"t", "log"}, {"message", m}}); }

 private:
  void emit(const json& j) {
    if (rank_ != 0) return;
    out_ << j.dump() << "\n";
    out_.flush();
  }
  int rank_;
  std::ofstream out_;
};

int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}

void write_atomic(const fs::path& p, const std::string& text) {
  const auto tmp = p.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
}

int fail(const fs::path& dir, int rank, const std::string& message) {
  std::fprintf(stderr, "[rank %d] error: %s\n", rank, message.c_str());
  if (!dir.empty()) write_atomic(dir / ("rank-" + std::to_string(rank) + ".error"), message + "\n");
  return 1;
}

}  // namespace

int train_rank_main(int argc, char** argv) {
  fs::path dir;
  int rank = -1, world = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--job" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--rank" && i + 1 < argc)
      rank = std::atoi(argv[++i]);
    else if (a == "--world" && i + 1 < argc)
      world = std::atoi(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "llmops-train-rank: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (rank < 0) rank = env_int("SLURM_PROCID", -1);
  if (world < 0) world = env_int("SLURM_NTASKS", -1);
  if (dir.empty() || rank < 0 || world < 1 || rank >= world) {
    std::fprintf(stderr, "llmops-train-rank: needs --job and a rank below the world size\n%s",
                 kUsage);
    return 2;
  }
  try {
    std::ifstream in(dir / "job.json", std::ios::binary);
    const auto job = json::parse(in, nullptr, false);
    if (!job.is_object()) return fail(dir, rank, "cannot read " + (dir / "job.json").string());
    ModelSpec spec;
    TrainOptions t;
    ModelOutputs outs;
    if (auto s = job_from_json(job, spec, t, outs); !s) return fail(dir, rank, s.message());
    if (job.value("world", 0) != world)
      return fail(dir, rank,
                  "the job was written for " + std::to_string(job.value("world", 0)) +
                      " ranks, this one was started as one of " + std::to_string(world));
    if (t.threads <= 0)
      t.threads = std::max(1, usable_cpus() / std::max(1, job.value("local_world", 1)));

    auto train = load_packed(dir / "train.bin");
    if (!train) return fail(dir, rank, train.status().message());
    Result<PackedData> eval = PackedData{};
    if (job.value("eval", false)) eval = load_packed(dir / "eval.bin");
    if (!eval) return fail(dir, rank, eval.status().message());
    auto model = build_model(spec);
    if (!model) return fail(dir, rank, model.status().message());

    GlooOptions g;
    g.addr = job.value("addr", std::string("127.0.0.1"));
    g.port = job.value("port", 0);
    g.rank = rank;
    g.world = world;
    g.timeout_s = job.value("timeout_s", 300.0);
    g.ifname = job.value("interface", std::string());
    auto group = connect_gloo(g);
    t.collective = group.get();
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::fprintf(stderr, "[rank %d] joined the group of %d on %s (pid %d, %d threads)\n", rank,
                 world, host, static_cast<int>(::getpid()), t.threads);

    RankObserver obs(rank, dir / "events.jsonl");
    auto res = train_model(*model, *train, eval->rows() ? &*eval : nullptr, t, obs);
    if (!res) return fail(dir, rank, res.status().message());
    if (rank == 0) {
      if (auto s = save_trained_model(*model, spec, outs); !s) return fail(dir, rank, s.message());
      TrainSummary sum{*res, model->parameter_count(), world};
      write_atomic(dir / "result.json", summary_to_json(sum).dump(2) + "\n");
    }
    write_atomic(dir / ("rank-" + std::to_string(rank) + ".done"), "ok\n");
    return 0;
  } catch (const std::exception& e) {
    return fail(dir, rank, short_error(e.what()));
  }
}

}  // namespace llmops::trainers
