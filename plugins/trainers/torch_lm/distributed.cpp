// The launching side of data-parallel training; see distributed.hpp.
#include "trainers/torch_lm/distributed.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "trainers/torch_lm/rendezvous.hpp"

namespace llmops::trainers {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
constexpr char kJobFormat[] = "llmops.torch-lm.ddp-job";

const char* dtype_str(lm::DType d) {
  return d == lm::DType::kBF16 ? "bfloat16" : d == lm::DType::kF16 ? "float16" : "float32";
}

fs::path find_in(const std::vector<fs::path>& dirs, const char* name) {
  for (const auto& d : dirs)
    if (!d.empty() && ::access((d / name).c_str(), X_OK) == 0) return d / name;
  return {};
}

std::vector<fs::path> path_dirs() {
  std::vector<fs::path> dirs;
  if (const char* path = std::getenv("PATH"))
    for (std::string p = path; !p.empty();) {
      const auto c = p.find(':');
      dirs.emplace_back(p.substr(0, c));
      p = c == std::string::npos ? "" : p.substr(c + 1);
    }
  return dirs;
}

// llmops-train-rank: $LLMOPS_TRAIN_RANK, else beside this module (the plugin), else beside the
// executable, else on PATH.
fs::path find_rank_binary() {
  if (const char* e = std::getenv("LLMOPS_TRAIN_RANK"); e && *e) return e;
  std::vector<fs::path> dirs;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&find_rank_binary), &info) && info.dli_fname)
    dirs.push_back(fs::absolute(info.dli_fname).parent_path());
  std::error_code ec;
  dirs.push_back(fs::read_symlink("/proc/self/exe", ec).parent_path());
  for (auto& d : path_dirs()) dirs.push_back(d);
  return find_in(dirs, "llmops-train-rank");
}

// Starts argv with stdin on /dev/null and stdout/stderr shared (the step log); the child is
// killed if this thread's process dies.
Result<pid_t> spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return std::string("was killed by signal ") + std::to_string(sig) + " (" +
           (sig == SIGKILL ? "SIGKILL: killed, or out of memory" : strsignal(sig)) + ")";
  }
  const int code = WEXITSTATUS(status);
  if (code == 127) return "could not start (exit status 127)";
  return "exited with status " + std::to_string(code);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Forwards rank 0's events.jsonl (complete lines only) to the step.
class EventTail {
 public:
  EventTail(StepContext& ctx, fs::path file) : ctx_(ctx), file_(std::move(file)) {}
  void poll() {
    std::ifstream in(file_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    size_t start = 0;
    for (size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1)
      forward(chunk.substr(start, nl - start));
    offset_ += start;
  }

 private:
  void forward(const std::string& line) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) return;
    const auto t = j.value("t", std::string());
    if (t == "metric")
      ctx_.metric(j.value("name", std::string()), j.value("value", 0.0), j.value("step", 0));
    else if (t == "progress")
      ctx_.progress(j.value("step", 0.0), j.value("total", 0.0), j.value("note", std::string()));
    else if (t == "log")
      ctx_.info(j.value("message", std::string()));
  }
  StepContext& ctx_;
  fs::path file_;
  size_t offset_ = 0;
};

}  // namespace

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' ? static_cast<int>(n) : fallback;
}

json job_to_json(const ModelSpec& spec, const TrainOptions& t, const ModelOutputs& out) {
  json lora = nullptr;
  if (spec.lora)
    lora = {{"r", spec.lora->r},
            {"alpha", spec.lora->alpha},
            {"dropout", spec.lora->dropout},
            {"use_rslora", spec.lora->use_rslora},
            {"target_modules", spec.lora->target_modules},
            {"target_regex", spec.lora->target_regex}};
  return {{"format", kJobFormat},
          {"version", 1},
          {"spec",
           {{"mode", spec.mode},
            {"base", spec.base ? json(spec.base->string()) : json(nullptr)},
            {"config", json::parse(lm::llama_config_to_json(spec.config))},
            {"seed", spec.seed},
            {"lora", lora}}},
          {"options",
           {{"total_steps", t.total_steps},
            {"batch_size", t.batch_size},
            {"grad_accum", t.grad_accum},
            {"lr", t.lr},
            {"min_lr_ratio", t.min_lr_ratio},
            {"warmup_steps", t.warmup_steps},
            {"beta1", t.beta1},
            {"beta2", t.beta2},
            {"eps", t.eps},
            {"weight_decay", t.weight_decay},
            {"max_grad_norm", t.max_grad_norm},
            {"eval_every", t.eval_every},
            {"eval_batches", t.eval_batches},
            {"patience", t.patience},
            {"min_delta", t.min_delta},
            {"checkpoint_every", t.checkpoint_every},
            {"keep_checkpoints", t.keep_checkpoints},
            {"checkpoint_dir", t.checkpoint_dir.string()},
            {"fingerprint", t.fingerprint},
            {"seed", t.seed},
            {"threads", t.threads},
            {"lora_only", t.lora_only},
            {"bucket_mb", t.bucket_mb},
            {"segment_token", t.segment_token},
            {"argument_weight", t.argument_weight}}},
          {"outputs",
           {{"adapter", out.adapter_dir.string()},
            {"model", out.model_dir.string()},
            {"dtype", dtype_str(out.dtype)}}}};
}

Status job_from_json(const json& j, ModelSpec& spec, TrainOptions& t, ModelOutputs& out) {
  if (j.value("format", std::string()) != kJobFormat || j.value("version", 0) != 1)
    return Status::invalid("not a version 1 " + std::string(kJobFormat) + " file");
  try {
    const auto& s = j.at("spec");
    spec.mode = s.at("mode").get<std::string>();
    if (s.at("base").is_string()) spec.base = fs::path(s.at("base").get<std::string>());
    auto cfg = lm::parse_llama_config(s.at("config").dump(), "job.json");
    if (!cfg) return cfg.status();
    spec.config = *cfg;
    spec.seed = s.at("seed").get<uint64_t>();
    if (s.at("lora").is_object()) {
      const auto& l = s.at("lora");
      lm::LoraConfig lc;
      lc.r = l.at("r");
      lc.alpha = l.at("alpha");
      lc.dropout = l.at("dropout");
      lc.use_rslora = l.at("use_rslora");
      lc.target_modules = l.at("target_modules").get<std::vector<std::string>>();
      lc.target_regex = l.at("target_regex");
      spec.lora = lc;
    }
    const auto& o = j.at("options");
    t.total_steps = o.at("total_steps");
    t.batch_size = o.at("batch_size");
    t.grad_accum = o.at("grad_accum");
    t.lr = o.at("lr");
    t.min_lr_ratio = o.at("min_lr_ratio");
    t.warmup_steps = o.at("warmup_steps");
    t.beta1 = o.at("beta1");
    t.beta2 = o.at("beta2");
    t.eps = o.at("eps");
    t.weight_decay = o.at("weight_decay");
    t.max_grad_norm = o.at("max_grad_norm");
    t.eval_every = o.at("eval_every");
    t.eval_batches = o.at("eval_batches");
    t.patience = o.at("patience");
    t.min_delta = o.at("min_delta");
    t.checkpoint_every = o.at("checkpoint_every");
    t.keep_checkpoints = o.at("keep_checkpoints");
    t.checkpoint_dir = o.at("checkpoint_dir").get<std::string>();
    t.fingerprint = o.at("fingerprint");
    t.seed = o.at("seed");
    t.threads = o.at("threads");
    t.lora_only = o.at("lora_only");
    t.bucket_mb = o.at("bucket_mb");
    t.segment_token = o.value("segment_token", int64_t{-1});
    t.argument_weight = o.value("argument_weight", 1.0);
    const auto& w = j.at("outputs");
    out.adapter_dir = w.at("adapter").get<std::string>();
    out.model_dir = w.at("model").get<std::string>();
    const auto d = w.at("dtype").get<std::string>();
    out.dtype = d == "bfloat16"  ? lm::DType::kBF16
                : d == "float16" ? lm::DType::kF16
                                 : lm::DType::kF32;
  } catch (const std::exception& e) {
    return Status::invalid(std::string("job.json: ") + e.what());
  }
  return Status::ok();
}

json summary_to_json(const TrainSummary& s) {
  const auto& r = s.result;
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return {{"steps", r.steps},
          {"resumed_from", r.resumed_from},
          {"train_loss", num(r.train_loss)},
          {"eval_loss", num(r.eval_loss)},
          {"best_eval_loss", num(r.best_eval_loss)},
          {"early_stopped", r.early_stopped},
          {"tokens", r.tokens},
          {"train_seconds", r.train_seconds},
          {"tokens_per_s", r.tokens_per_s},
          {"comm_seconds", r.comm_seconds},
          {"loss_curve", r.loss_curve},
          {"eval_curve", r.eval_curve},
          {"parameters", s.parameters},
          {"world", s.world}};
}

TrainSummary summary_from_json(const json& j) {
  auto num = [&](const char* k) {
    return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN;
  };
  TrainSummary s;
  auto& r = s.result;
  r.steps = j.value("steps", int64_t{0});
  r.resumed_from = j.value("resumed_from", int64_t{0});
  r.train_loss = num("train_loss");
  r.eval_loss = num("eval_loss");
  r.best_eval_loss = num("best_eval_loss");
  r.early_stopped = j.value("early_stopped", false);
  r.tokens = j.value("tokens", int64_t{0});
  r.train_seconds = j.value("train_seconds", 0.0);
  r.tokens_per_s = j.value("tokens_per_s", 0.0);
  r.comm_seconds = j.value("comm_seconds", 0.0);
  r.loss_curve = j.value("loss_curve", r.loss_curve);
  r.eval_curve = j.value("eval_curve", r.eval_curve);
  s.parameters = j.value("parameters", int64_t{0});
  s.world = j.value("world", 1);
  return s;
}

Result<TrainSummary> run_distributed(StepContext& ctx, const RunOptions& o, const ModelSpec& spec,
                                     const PackedData& train, const PackedData& eval,
                                     const ModelOutputs& outputs) {
  const auto& d = o.dist;
  const int slurm_tasks = std::getenv("SLURM_JOB_ID") ? env_int("SLURM_NTASKS", 1) : 1;
  const bool srun = d.launcher == "srun" || (d.launcher == "auto" && slurm_tasks > 1);
  int world = d.world_size;
  if (srun) {
    if (!std::getenv("SLURM_JOB_ID"))
      return Status::invalid(
          "distributed.launcher srun: this step is not running inside a Slurm job; use "
          "`executor: slurm` with `slurm: {ntasks_per_node: N}` or launcher local");
    if (world > 0 && world != slurm_tasks)
      return Status::invalid("distributed.world_size is " + std::to_string(world) +
                             " but the Slurm job has " + std::to_string(slurm_tasks) +
                             " tasks (nodes x ntasks_per_node); make them agree or drop "
                             "world_size");
    world = slurm_tasks;
  } else if (world <= 0) {
    return Status::invalid(
        "distributed.world_size is required outside a Slurm job of several tasks");
  }
  if (o.train.batch_size % world != 0)
    return Status::invalid("batch_size " + std::to_string(o.train.batch_size) +
                           " is not a multiple of the world size " + std::to_string(world));
  const auto bin = find_rank_binary();
  if (bin.empty())
    return Status::not_found(
        "cannot find llmops-train-rank beside the trainer plugin or on PATH; reinstall llmops or "
        "set LLMOPS_TRAIN_RANK to its path");
  if (::access(bin.c_str(), X_OK) != 0)
    return Status::not_found(bin.string() + " (llmops-train-rank) is not an executable file; " +
                             "reinstall llmops or fix LLMOPS_TRAIN_RANK");

  // The job folder: shared with the ranks (under Slurm every node mounts LLMOPS_HOME).
  const fs::path dir = ctx.scratch_dir() / "ddp";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir.string() + ": " + ec.message());
  if (auto s = save_packed(dir / "train.bin", train); !s) return s;
  if (eval.rows() > 0)
    if (auto s = save_packed(dir / "eval.bin", eval); !s) return s;
  auto rdv = RendezvousServer::start(d.timeout_s);
  if (!rdv) return rdv.status();
  std::string addr = "127.0.0.1";
  if (srun && env_int("SLURM_JOB_NUM_NODES", 1) > 1) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    addr = host;
  }
  if (const char* a = std::getenv("LLMOPS_DDP_ADDR"); a && *a) addr = a;
  const int nodes = srun ? std::max(1, env_int("SLURM_JOB_NUM_NODES", 1)) : 1;
  json job = job_to_json(spec, o.train, outputs);
  job["world"] = world;
  job["local_world"] = (world + nodes - 1) / nodes;
  job["addr"] = addr;
  job["port"] = (*rdv)->port();
  job["timeout_s"] = d.timeout_s;
  job["interface"] = d.ifname;
  job["eval"] = eval.rows() > 0;
  {
    std::ofstream f(dir / "job.json", std::ios::binary | std::ios::trunc);
    f << job.dump(2) << "\n";
    f.close();
    if (!f) return Status::internal("cannot write " + (dir / "job.json").string());
  }
  ctx.info("data-parallel training: " + std::to_string(world) + " ranks (" +
           (srun ? "srun, " + std::to_string(nodes) + " node(s)" : std::string("local")) +
           "), gloo, rendezvous " + addr + ":" + std::to_string((*rdv)->port()) + ", " +
           std::to_string(o.train.batch_size / world) + " rows per rank per micro-batch");

  // Start the ranks.
  std::vector<pid_t> pids;
  std::vector<int> status;  // per rank: -1 while it runs (only those are signalled)
  auto kill_all = [&](int sig) {
    for (size_t i = 0; i < pids.size(); ++i)
      if (pids[i] > 0 && (i >= status.size() || status[i] == -1)) ::kill(pids[i], sig);
  };
  if (srun) {
    const auto srun_bin = find_in(path_dirs(), "srun");
    if (srun_bin.empty()) return Status::not_found("srun is not on PATH inside the Slurm job");
    auto pid = spawn({srun_bin.string(), "--ntasks=" + std::to_string(world),
                      "--kill-on-bad-exit=1", "--export=ALL", bin.string(), "--job", dir.string()});
    if (!pid) return pid.status();
    pids.push_back(*pid);
  } else {
    for (int r = 0; r < world; ++r) {
      auto pid = spawn({bin.string(), "--job", dir.string(), "--rank", std::to_string(r), "--world",
                        std::to_string(world)});
      if (!pid) {
        kill_all(SIGKILL);
        for (pid_t p : pids) ::waitpid(p, nullptr, 0);
        return pid.status();
      }
      pids.push_back(*pid);
    }
  }

  // Watch them.
  EventTail events(ctx, dir / "events.jsonl");
  status.assign(pids.size(), -1);
  std::string failure;
  bool cancelled = false;
  std::optional<Clock::time_point> ending;
  size_t running = pids.size();
  while (running > 0) {
    events.poll();
    std::string round_failure;
    bool round_signal = false;
    for (size_t i = 0; i < pids.size(); ++i) {
      if (status[i] != -1) continue;
      int st = 0;
      if (::waitpid(pids[i], &st, WNOHANG) != pids[i]) continue;
      status[i] = st;
      --running;
      const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      if (ok || !failure.empty() || cancelled) continue;
      std::string what = srun ? "srun " + describe_exit(st)
                              : "rank " + std::to_string(i) + " " + describe_exit(st);
      const std::string err = srun ? "" : read_text(dir / ("rank-" + std::to_string(i) + ".error"));
      if (!err.empty()) what += ": " + err;
      // Of the ranks that ended in the same instant, the one killed by a signal is the cause.
      if (round_failure.empty() || (WIFSIGNALED(st) && !round_signal)) {
        round_failure = what;
        round_signal = WIFSIGNALED(st);
      }
    }
    if (!round_failure.empty() && failure.empty() && !cancelled) {
      failure = round_failure;
      kill_all(SIGTERM);
      ending = Clock::now();
    }
    if (!cancelled && failure.empty() && ctx.cancelled()) {
      cancelled = true;
      kill_all(SIGTERM);
      ending = Clock::now();
    }
    if (ending && Clock::now() - *ending > std::chrono::seconds(5)) {
      for (size_t i = 0; i < pids.size(); ++i)
        if (status[i] == -1) ::kill(pids[i], SIGKILL);
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  events.poll();
  if (cancelled) return Status::cancelled("training cancelled; the ranks were stopped");
  if (!failure.empty()) {
    if (srun) {
      // Ranks report their own errors; one that left none was killed (or ran out of memory),
      // and is the cause: the others then fail on their next collective.
      std::string silent, first_error;
      for (int r = 0; r < world; ++r) {
        const auto err = read_text(dir / ("rank-" + std::to_string(r) + ".error"));
        const bool done = fs::exists(dir / ("rank-" + std::to_string(r) + ".done"));
        if (!done && err.empty())
          silent += (silent.empty() ? "rank " : ", rank ") + std::to_string(r);
        else if (!err.empty() && first_error.empty())
          first_error = "rank " + std::to_string(r) + ": " + err;
      }
      std::string why;
      if (!silent.empty()) why = silent + " ended without a report (killed, or out of memory)";
      if (!first_error.empty()) why += (why.empty() ? "" : "; then ") + first_error;
      failure = why.empty() ? failure : why + " (" + failure + ")";
    }
    return Status::internal("data-parallel training failed: " + failure);
  }
  const auto result = json::parse(read_text(dir / "result.json"), nullptr, false);
  if (!result.is_object())
    return Status::internal("rank 0 ended without writing " + (dir / "result.json").string());
  auto s = summary_from_json(result);
  ctx.info("data-parallel training done: " + std::to_string(world) + " ranks, " +
           std::to_string(static_cast<int64_t>(s.result.tokens_per_s)) + " tokens/s, " +
           std::to_string(static_cast<int>(100 * s.result.comm_seconds /
                                           std::max(1e-9, s.result.train_seconds))) +
           "% of step time in all-reduce");
  return s;
}

}  // namespace llmops::trainers
