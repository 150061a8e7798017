#include "engine/exec/slurm_executor.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "base/command.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "engine/exec/slurm_cli.hpp"
#include "engine/exec/step_context.hpp"
#include "engine/exec/step_worker.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

struct SlurmExecutor::Job {
  std::shared_ptr<StepRequest> request;
  std::shared_ptr<CompletionSink> sink;
  SlurmJobFiles files;
  std::string id;
  double since = 0;          // submitted (or reattached) at
  double missing_since = 0;  // no command knows the job since
  double running_since = 0;
  std::atomic<bool> cancel_wanted{false};  // set by cancel(), read by the poller
  bool cancel_sent = false;                // under mu_
  int resubmits = 0;
  uint64_t events_offset = 0;
  std::string partial;  // an events line not yet ended
  StepResult result;
  bool got_result = false;
  SlurmJob last;
  std::string placement_sent;
};

namespace {

double env_seconds(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return end && *end == '\0' && d > 0 ? d : fallback;
}

std::string first_line(const std::string& text) {
  const std::string t = base::trim(text);
  const size_t nl = t.find('\n');
  return nl == std::string::npos ? t : t.substr(0, nl);
}

Status write_file(const fs::path& path, const std::string& text, bool executable) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::internal("cannot write " + tmp.string());
  }
  if (executable) chmod(tmp.c_str(), 0755);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::internal("cannot write " + path.string() + ": " + ec.message());
  return Status::ok();
}

// "slurm:123" -> "123".
std::optional<std::string> job_id_of(const std::string& external_id) {
  const std::string prefix = "slurm:";
  if (external_id.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return parse_sbatch_id(external_id.substr(prefix.size()));
}

}  // namespace

SlurmOptions SlurmOptions::from_env(fs::path default_worker) {
  SlurmOptions o;
  const char* w = std::getenv("LLMOPS_SLURM_WORKER");
  o.worker = w && *w ? fs::path(w) : std::move(default_worker);
  o.poll_max_s = env_seconds("LLMOPS_SLURM_POLL_MAX", o.poll_max_s);
  o.vanish_s = env_seconds("LLMOPS_SLURM_VANISH", o.vanish_s);
  o.marker_s = env_seconds("LLMOPS_SLURM_MARKER_WAIT", o.marker_s);
  return o;
}

SlurmExecutor::SlurmExecutor(SlurmOptions options) : opt_(std::move(options)) {}

SlurmExecutor::~SlurmExecutor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

int SlurmExecutor::submissions() const {
  std::lock_guard lock(mu_);
  return submissions_;
}

Status SlurmExecutor::preflight() {
  for (const char* tool : {"sbatch", "squeue", "scontrol", "scancel"}) {
    if (base::find_on_path(tool).empty())
      return Status::precondition(
          std::string("executor slurm: ") + tool +
          " is not on PATH: install Slurm's client commands (Debian: slurm-client) with a "
          "slurm.conf for your cluster, or start a local one with scripts/slurm-local.sh start "
          "(docs/slurm.md)");
  }
  // Slurm's commands retry a missing slurm.conf for a minute: say it at once instead.
  if (const char* conf = std::getenv("SLURM_CONF"); conf && *conf && access(conf, R_OK) != 0)
    return Status::precondition(std::string("executor slurm: SLURM_CONF names ") + conf +
                                ", which cannot be read: point it at your cluster's slurm.conf "
                                "(scripts/slurm-local.sh env prints the local one's)");
  const double ping_s = std::min(opt_.command_s, 10.0);
  auto ping = base::run_command({"scontrol", "ping"}, ping_s);
  if (!ping) return Status::precondition("executor slurm: " + ping.status().message());
  if (ping->exit_code != 0 || ping->out.find("is UP") == std::string::npos) {
    std::string said = first_line(ping->out + "\n" + ping->err);
    if (ping->timed_out) said = "no answer in " + std::to_string(int(ping_s)) + "s";
    return Status::precondition(
        "executor slurm: slurmctld does not answer (scontrol ping: " + said +
        "): start it (scripts/slurm-local.sh start for a local cluster) or point SLURM_CONF at "
        "your cluster's slurm.conf");
  }
  if (access(opt_.worker.c_str(), X_OK) != 0)
    return Status::precondition("executor slurm: the step worker " + opt_.worker.string() +
                                " is not executable here; set LLMOPS_SLURM_WORKER to the path of "
                                "llmops on the nodes");
  return Status::ok();
}

Result<std::string> SlurmExecutor::sbatch(const StepRequest& request) {
  const SlurmJobFiles files = slurm_job_files(request);
  std::error_code ec;
  const std::string cwd = fs::current_path(ec).string();
  const auto argv = sbatch_argv(request, files, opt_.worker.string(), cwd);
  // slurmctld under load answers "temporarily unable" or times out: a few tries, then the error.
  for (int attempt = 0;; ++attempt) {
    auto out = base::run_command(argv, opt_.command_s);
    if (!out) return out.status();
    {
      std::lock_guard lock(mu_);
      ++submissions_;
    }
    if (out->exit_code == 0) {
      auto id = parse_sbatch_id(out->out);
      if (id) return *id;
      return Status::internal("sbatch answered '" + first_line(out->out) + "', not a job id");
    }
    std::string said = base::trim(out->err + out->out);
    std::replace(said.begin(), said.end(), '\n', ' ');
    const bool transient = out->timed_out || said.find("emporarily") != std::string::npos ||
                           said.find("timed out") != std::string::npos;
    const std::string why = said.empty() ? "exit code " + std::to_string(out->exit_code) : said;
    if (!transient) return Status::invalid("sbatch refused the job: " + why);
    // Still busy after three tries: the step's retries may get through later.
    if (attempt >= 2)
      return Status(StatusCode::kUnavailable, "sbatch did not accept the job: " + why);
    usleep(useconds_t(500000) << attempt);
  }
}

Result<std::string> SlurmExecutor::submit(uint64_t token, std::shared_ptr<StepRequest> request,
                                          std::shared_ptr<CompletionSink> sink) {
  std::error_code ec;
  fs::create_directories(request->work_dir, ec);
  fs::create_directories(request->log_path.parent_path(), ec);
  auto job = std::make_shared<Job>();
  job->files = slurm_job_files(*request);
  if (Status s = write_file(job->files.request, request_to_json(*request).dump(), false);
      !s.is_ok())
    return s;
  if (Status s = write_file(job->files.script, slurm_job_script(), true); !s.is_ok()) return s;
  fs::remove(job->files.marker, ec);
  fs::remove(job->files.events, ec);
  auto id = sbatch(*request);
  if (!id) return id.status();
  job->id = id.value();
  job->request = std::move(request);
  job->sink = std::move(sink);
  watch(token, job);
  return "slurm:" + job->id;
}

Status SlurmExecutor::reattach(uint64_t token, std::shared_ptr<StepRequest> request,
                               const std::string& external_id,
                               std::shared_ptr<CompletionSink> sink) {
  auto id = job_id_of(external_id);
  if (!id) return Status::invalid("'" + external_id + "' is not a Slurm job of llmops");
  if (base::find_on_path("squeue").empty())
    return Status(StatusCode::kUnavailable,
                  "squeue is not on PATH, so job " + *id + " cannot be followed");
  auto job = std::make_shared<Job>();
  job->files = slurm_job_files(*request);
  job->id = *id;
  job->request = std::move(request);
  job->sink = std::move(sink);
  watch(token, job);
  return Status::ok();
}

void SlurmExecutor::watch(uint64_t token, std::shared_ptr<Job> job) {
  job->since = base::steady_now();
  {
    std::lock_guard lock(mu_);
    jobs_[token] = job;
    fresh_ = true;
    if (!poller_.joinable()) poller_ = std::thread([this] { poll_loop(); });
  }
  wake_.notify_all();
}

void SlurmExecutor::cancel(uint64_t token, StepRequest& request) {
  request.cancel->store(true);
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(token);
    if (it == jobs_.end()) return;
    it->second->cancel_wanted = true;
  }
  wake_.notify_all();
}

void SlurmExecutor::abandon(uint64_t token) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(token);
    if (it == jobs_.end()) return;
    id = it->second->id;
    jobs_.erase(it);
  }
  // The job ignored scancel's SIGTERM: it gets SIGKILL, and nothing waits for it any more.
  scancel({id}, /*kill=*/true);
}

void SlurmExecutor::scancel(const std::vector<std::string>& ids, bool kill) {
  std::vector<std::string> argv = {"scancel"};
  if (kill) argv.insert(argv.end(), {"--signal=KILL", "--full"});
  argv.insert(argv.end(), ids.begin(), ids.end());
  // Best effort: a job that already ended makes scancel complain, which is no matter; one that
  // slurmctld did not hear about gets SIGKILL when the run loop abandons it, or ends at its time
  // limit. Either way its state is what the poller reports.
  [[maybe_unused]] auto out = base::run_command(argv, opt_.command_s);
}

void SlurmExecutor::poll_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (jobs_.empty()) {
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      continue;
    }
    fresh_ = false;  // this round sees every job added so far
    lock.unlock();
    poll_round();
    lock.lock();
    // Young jobs are polled often (a short step ends within a second or two), old ones seldom.
    double youngest = 1e18;
    const double now = base::steady_now();
    bool cancels = false;
    for (const auto& [token, job] : jobs_) {
      youngest = std::min(youngest, now - job->since);
      cancels = cancels || (job->cancel_wanted && !job->cancel_sent);
    }
    if (cancels) continue;
    const double wait_s = std::clamp(youngest / 10, opt_.poll_min_s, opt_.poll_max_s);
    // A new job or a cancel wakes it early: the new job sets the pace from then on.
    wake_.wait_for(lock, std::chrono::duration<double>(wait_s), [&] {
      if (stopping_ || fresh_) return true;
      for (const auto& [token, job] : jobs_)
        if (job->cancel_wanted && !job->cancel_sent) return true;
      return false;
    });
  }
}

void SlurmExecutor::poll_round() {
  std::vector<std::pair<uint64_t, std::shared_ptr<Job>>> jobs;
  std::vector<std::string> to_cancel;
  {
    std::lock_guard lock(mu_);
    for (auto& [token, job] : jobs_) {
      jobs.emplace_back(token, job);
      if (job->cancel_wanted && !job->cancel_sent) {
        job->cancel_sent = true;
        to_cancel.push_back(job->id);
      }
    }
  }
  if (jobs.empty()) return;
  if (!to_cancel.empty()) scancel(to_cancel, /*kill=*/false);
  // One squeue call for every job of the executor.
  std::string ids;
  for (const auto& [token, job] : jobs) ids += (ids.empty() ? "" : ",") + job->id;
  std::map<std::string, SlurmJob> known;
  auto sq = base::run_command({"squeue", "-h", "-t", "all", "-j", ids, "-o", "%i|%T|%N|%r"},
                              opt_.command_s);
  if (sq && sq->exit_code == 0)
    for (auto& j : parse_squeue(sq->out)) known[j.id] = j;
  const double now = base::steady_now();
  for (auto& [token, job] : jobs) {
    read_events(*job);
    auto it = known.find(job->id);
    std::optional<SlurmJob> info;
    if (it != known.end()) info = it->second;
    // Finished jobs: scontrol has the exit code; jobs squeue forgot: scontrol, then sacct.
    if (!info || slurm_done(slurm_phase(info->state))) {
      auto sc = base::run_command({"scontrol", "show", "job", "-o", job->id}, opt_.command_s);
      if (sc && sc->exit_code == 0)
        if (auto j = parse_scontrol_job(sc->out)) info = j;
      if (!info) {
        auto sa = base::run_command(
            {"sacct", "-n", "-P", "-X", "-j", job->id, "-o", "JobIDRaw,State,ExitCode,NodeList"},
            opt_.command_s);
        if (sa && sa->exit_code == 0)
          for (auto& j : parse_sacct(sa->out))
            if (j.id == job->id) info = j;
      }
    }
    if (info) {
      job->missing_since = 0;
      job->last = *info;
    } else if (job->missing_since == 0) {
      job->missing_since = now;
    }
    settle(token, *job, now);
  }
}

void SlurmExecutor::read_events(Job& job) {
  std::ifstream in(job.files.events, std::ios::binary);
  if (!in) return;
  in.seekg(std::streamoff(job.events_offset));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  job.events_offset += chunk.size();
  job.partial += chunk;
  size_t nl;
  while ((nl = job.partial.find('\n')) != std::string::npos) {
    auto j = nlohmann::json::parse(job.partial.substr(0, nl), nullptr, false);
    job.partial.erase(0, nl + 1);
    if (j.is_object()) apply_protocol_line(j, *job.request, job.result, &job.got_result);
  }
  if (job.partial.size() > (64u << 20)) job.partial.clear();  // not a protocol line
}

bool SlurmExecutor::settle(uint64_t token, Job& job, double now) {
  const StepRequest& req = *job.request;
  if (job.missing_since > 0) {
    if (job.got_result) {  // squeue and sacct forgot it, but it reported before it ended
      finish(token, job, job.result);
      return true;
    }
    if (now - job.missing_since < opt_.vanish_s) return false;
    StepResult r;
    r.status =
        Status(StatusCode::kUnavailable, "slurm job " + job.id +
                                             " vanished: neither squeue, scontrol "
                                             "nor sacct knows it any more, and it left no result");
    finish(token, job, r);
    return true;
  }
  const SlurmPhase phase = slurm_phase(job.last.state);
  nlohmann::json where = {{"executor", "slurm"},
                          {"job", job.id},
                          {"node", job.last.node},
                          {"state", job.last.state},
                          {"reason", job.last.reason}};
  if (where.dump() != job.placement_sent && req.on_placement) {
    job.placement_sent = where.dump();
    req.on_placement(where);
  }
  std::error_code ec;
  const bool marker = fs::exists(job.files.marker, ec);
  const std::string unreachable =
      "slurm job " + job.id + (job.last.node.empty() ? "" : " on node " + job.last.node) +
      " could not reach LLMOPS_HOME (it left no start marker in " + req.work_dir.string() +
      "): the store and its blobs must be on a filesystem every node mounts at the same path "
      "(docs/slurm.md)";
  if (phase == SlurmPhase::kRunning) {
    if (job.running_since == 0) job.running_since = now;
    if (!marker && !job.cancel_wanted && now - job.running_since > opt_.marker_s) {
      scancel({job.id}, /*kill=*/false);
      StepResult r;
      r.status = {StatusCode::kUnavailable, unreachable};  // a slow mount may heal: retries apply
      finish(token, job, r);
      return true;
    }
    return false;
  }
  if (!slurm_done(phase)) return false;
  read_events(job);  // the lines written just before it ended
  StepResult r = job.result;
  if (job.got_result) {
    if (r.status.is_ok() && phase != SlurmPhase::kSucceeded)
      r.status =
          Status::internal(slurm_failure(job.last, req) + ", after the step reported success");
    else if (!r.status.is_ok() && phase == SlurmPhase::kFailed && job.last.state != "FAILED")
      r.status = Status::internal(r.status.message() + " (" + slurm_failure(job.last, req) + ")");
  } else if (phase == SlurmPhase::kCancelled && job.cancel_wanted) {
    r.status = Status::cancelled("cancelled: scancel " + job.id);
  } else if (!marker && phase != SlurmPhase::kCancelled && phase != SlurmPhase::kRetryable) {
    r.status = {StatusCode::kUnavailable, unreachable};  // a slow mount may heal: retries apply
  } else if (phase == SlurmPhase::kRetryable && job.resubmits < opt_.resubmits &&
             !job.cancel_wanted) {
    append_step_log(req.log_path, LogLevel::kWarn,
                    slurm_failure(job.last, req) + "; submitting the job again");
    fs::remove(job.files.marker, ec);
    fs::remove(job.files.events, ec);
    auto id = sbatch(req);
    if (id) {
      ++job.resubmits;
      job.id = id.value();
      job.since = now;
      job.running_since = 0;
      job.events_offset = 0;
      job.partial.clear();
      job.result = StepResult();
      job.last = SlurmJob{job.id, "PENDING", "", "", -1, 0};
      return false;
    }
    r.status = Status(
        StatusCode::kUnavailable,
        slurm_failure(job.last, req) + "; submitting it again failed: " + id.status().message());
  } else if (phase == SlurmPhase::kRetryable) {
    r.status = Status(StatusCode::kUnavailable, slurm_failure(job.last, req));
  } else if (phase == SlurmPhase::kSucceeded) {
    r.status = Status::internal("slurm job " + job.id +
                                " completed without a result from the "
                                "step worker (see llmops logs)");
  } else {
    r.status = Status::internal(slurm_failure(job.last, req));
  }
  finish(token, job, std::move(r));
  return true;
}

void SlurmExecutor::finish(uint64_t token, Job& job, StepResult result) {
  std::shared_ptr<Job> keep;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(token);
    if (it == jobs_.end()) return;  // abandoned meanwhile
    keep = it->second;
    jobs_.erase(it);
  }
  Completion c;
  c.token = token;
  c.result = std::move(result);
  c.work_dir = job.request->work_dir;
  job.sink->complete(std::move(c));
}

}  // namespace llmops::engine
