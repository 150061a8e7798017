#include "engine/exec/slurm_cli.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/strings.hpp"

namespace llmops::engine {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = base::trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "CANCELLED by 0" -> "CANCELLED"; "COMPLETED+" -> "COMPLETED".
std::string base_state(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!(std::isupper(static_cast<unsigned char>(c)) || c == '_')) break;
    out += c;
  }
  return out;
}

std::string node_of(const std::string& s) {
  return s == "(null)" || s == "None assigned" ? "" : s;
}

// "3:0" -> exit 3, signal 0.
void parse_exit(const std::string& text, SlurmJob& job) {
  auto parts = split(text, ':');
  if (parts.size() != 2 || !all_digits(parts[0]) || !all_digits(parts[1])) return;
  if (parts[0].size() > 6 || parts[1].size() > 6) return;
  job.exit_code = std::stoi(parts[0]);
  job.signal = std::stoi(parts[1]);
}

std::string size_text(int64_t bytes) {
  char buf[32];
  if (bytes % (int64_t(1) << 30) == 0) {
    std::snprintf(buf, sizeof buf, "%lldGi", static_cast<long long>(bytes >> 30));
  } else {
    std::snprintf(buf, sizeof buf, "%lldMi", static_cast<long long>((bytes + (1 << 20) - 1) >> 20));
  }
  return buf;
}

}  // namespace

std::vector<SlurmJob> parse_squeue(const std::string& out) {
  std::vector<SlurmJob> jobs;
  for (const auto& line : lines_of(out)) {
    auto f = split(line, '|');
    if (f.size() < 2 || !all_digits(f[0])) continue;
    SlurmJob j;
    j.id = f[0];
    j.state = base_state(f[1]);
    if (j.state.empty()) continue;
    if (f.size() > 2) j.node = node_of(f[2]);
    if (f.size() > 3) j.reason = f[3] == "None" ? "" : f[3];
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::optional<SlurmJob> parse_scontrol_job(const std::string& out) {
  SlurmJob j;
  // Key=Value pairs separated by spaces; values may hold spaces (Command=, WorkDir=), but the
  // keys read here come before any of those and hold none.
  std::istringstream in(out);
  for (std::string tok; in >> tok;) {
    const size_t eq = tok.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
    if (key == "JobId" && j.id.empty()) {
      if (!all_digits(value)) return std::nullopt;
      j.id = value;
    } else if (key == "JobState") {
      j.state = base_state(value);
    } else if (key == "NodeList") {
      j.node = node_of(value);
    } else if (key == "Reason") {
      j.reason = value == "None" ? "" : value;
    } else if (key == "ExitCode") {
      parse_exit(value, j);
    }
  }
  if (j.id.empty() || j.state.empty()) return std::nullopt;
  return j;
}

std::vector<SlurmJob> parse_sacct(const std::string& out) {
  std::vector<SlurmJob> jobs;
  for (const auto& line : lines_of(out)) {
    auto f = split(line, '|');
    if (f.size() < 3 || !all_digits(f[0])) continue;
    SlurmJob j;
    j.id = f[0];
    j.state = base_state(f[1]);
    if (j.state.empty()) continue;
    parse_exit(f[2], j);
    if (f.size() > 3) j.node = node_of(f[3]);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::optional<std::string> parse_sbatch_id(const std::string& out) {
  auto lines = lines_of(out);
  if (lines.empty()) return std::nullopt;
  const std::string id = split(lines.back(), ';')[0];
  if (!all_digits(id)) return std::nullopt;
  return id;
}

SlurmPhase slurm_phase(const std::string& s) {
  if (s == "PENDING" || s == "CONFIGURING" || s == "REQUEUED" || s == "REQUEUE_HOLD" ||
      s == "REQUEUE_FED" || s == "RESV_DEL_HOLD" || s == "SUSPENDED" || s == "STOPPED")
    return SlurmPhase::kWaiting;
  if (s == "RUNNING" || s == "COMPLETING" || s == "RESIZING" || s == "SIGNALING" ||
      s == "STAGE_OUT")
    return SlurmPhase::kRunning;
  if (s == "COMPLETED") return SlurmPhase::kSucceeded;
  if (s == "NODE_FAIL" || s == "PREEMPTED" || s == "BOOT_FAIL") return SlurmPhase::kRetryable;
  if (s == "CANCELLED" || s == "REVOKED") return SlurmPhase::kCancelled;
  // FAILED, TIMEOUT, OUT_OF_MEMORY, DEADLINE, SPECIAL_EXIT and anything newer.
  return SlurmPhase::kFailed;
}

bool slurm_done(SlurmPhase p) {
  return p != SlurmPhase::kWaiting && p != SlurmPhase::kRunning;
}

std::string slurm_failure(const SlurmJob& job, const StepRequest& request) {
  std::string msg = "slurm: " + job.state;
  if (!job.node.empty()) msg += " on node " + job.node;
  msg += " (job " + job.id + ")";
  if (job.state == "OUT_OF_MEMORY") {
    msg += ": the job used more memory than it asked for; raise resources.memory";
    if (request.memory_limit > 0) msg += " (now " + size_text(request.memory_limit) + ")";
  } else if (job.state == "TIMEOUT") {
    msg += ": the job ran past its time limit; raise slurm.time or the step's timeout";
    const double t = request.slurm.value("time", request.timeout_s);
    if (t > 0) msg += " (now " + slurm_time(t) + ")";
  } else if (job.state == "DEADLINE") {
    msg += ": the job could not finish before its deadline";
  } else if (job.state == "NODE_FAIL" || job.state == "BOOT_FAIL") {
    msg += ": the node failed; the attempt can be retried";
  } else if (job.state == "PREEMPTED") {
    msg += ": a job of higher priority took its place; the attempt can be retried";
  } else if (job.state == "CANCELLED") {
    msg += ": cancelled outside llmops (scancel, an administrator)";
  } else if (job.signal > 0) {
    msg += ": killed by signal " + std::to_string(job.signal);
  } else if (job.exit_code > 0) {
    msg += ": exit code " + std::to_string(job.exit_code);
  }
  if (!job.reason.empty() && job.reason != "NonZeroExitCode") msg += " [" + job.reason + "]";
  return msg;
}

std::string slurm_time(double seconds) {
  const long long minutes = std::max(1LL, static_cast<long long>(std::ceil(seconds / 60.0)));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:00", minutes / 1440, (minutes / 60) % 24,
                minutes % 60);
  return buf;
}

SlurmJobFiles slurm_job_files(const StepRequest& request) {
  const auto& d = request.work_dir;
  return {d / "job.sh", d / "request.json", d / "events.jsonl", d / "started"};
}

const std::string& slurm_job_script() {
  static const std::string kScript = R"SH(#!/bin/sh
# An llmops step attempt as a Slurm job (written by the slurm executor; the same for every job).
# Arguments: WORKER REQUEST EVENTS MARKER.
worker=$1 request=$2 events=$3 marker=$4
if [ ! -r "$request" ]; then
  echo "llmops: node $(hostname) cannot read $request: LLMOPS_HOME must be on a filesystem that every node mounts at the same path" >&2
  exit 97
fi
printf '%s %s\n' "${SLURM_JOB_ID:-}" "$(hostname)" > "$marker"
exec "$worker" exec-step "$request" 3>>"$events"
)SH";
  return kScript;
}

std::vector<std::string> sbatch_argv(const StepRequest& r, const SlurmJobFiles& files,
                                     const std::string& worker, const std::string& cwd) {
  const std::string tag = "llmops:" + r.pipeline + ":run" + std::to_string(r.run_id) + ":" +
                          r.step + ":" + std::to_string(r.attempt);
  std::vector<std::string> a = {"sbatch",
                                "--parsable",
                                "--job-name=" + r.step + ".r" + std::to_string(r.run_id),
                                "--comment=" + tag,
                                "--output=" + r.log_path.string(),
                                "--open-mode=append",
                                "--chdir=" + cwd};
  const auto& s = r.slurm;
  for (const char* key : {"partition", "account", "qos", "constraint"})
    if (s.contains(key) && s[key].is_string())
      a.push_back(std::string("--") + key + "=" + s[key].get<std::string>());
  const double t =
      s.contains("time") && s["time"].is_number() ? s["time"].get<double>() : r.timeout_s;
  if (t > 0) a.push_back("--time=" + slurm_time(t));
  if (s.contains("nodes") && s["nodes"].is_number_integer())
    a.push_back("--nodes=" + std::to_string(s["nodes"].get<int64_t>()));
  if (s.contains("ntasks_per_node") && s["ntasks_per_node"].is_number_integer())
    a.push_back("--ntasks-per-node=" + std::to_string(s["ntasks_per_node"].get<int64_t>()));
  if (r.cpus > 0)
    a.push_back("--cpus-per-task=" + std::to_string(static_cast<long long>(std::ceil(r.cpus))));
  if (r.memory_limit > 0)
    a.push_back("--mem=" + std::to_string((r.memory_limit + (1 << 20) - 1) >> 20) + "M");
  if (r.gpus > 0) a.push_back("--gpus=" + std::to_string(r.gpus));
  if (s.contains("extra_args") && s["extra_args"].is_array())
    for (const auto& x : s["extra_args"])
      if (x.is_string()) a.push_back(x.get<std::string>());
  a.push_back(files.script.string());
  a.push_back(worker);
  a.push_back(files.request.string());
  a.push_back(files.events.string());
  a.push_back(files.marker.string());
  return a;
}

}  // namespace llmops::engine
