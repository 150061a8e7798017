// The Slurm executor's dealings with Slurm's commands, without a cluster: sbatch's argv for a
// step, the parsers of squeue/scontrol/sacct output, the state mapping and its messages, and the
// `slurm:` mapping as the loader checks and merges it. (A real cluster: tests/slurm.)
#include <catch2/catch.hpp>

#include "engine/exec/slurm_cli.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/slurm_spec.hpp"

using namespace llmops::engine;

namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

LoadResult load(const std::string& body, const std::map<std::string, std::string>& p = {}) {
  return load_pipeline_text("apiVersion: llmops/v1\nkind: Pipeline\nname: t\n" + body, "t.yaml", p);
}

}  // namespace

TEST_CASE("sbatch gets the step's slurm options, resources, name, comment and log", "[slurm]") {
  StepRequest r;
  r.run_id = 12;
  r.step = "train";
  r.attempt = 2;
  r.pipeline = "demo";
  r.work_dir = "/shared/home/runs/12/work/train/2";
  r.log_path = "/shared/home/runs/12/train.log";
  r.cpus = 1.5;
  r.gpus = 2;
  r.memory_limit = int64_t(3) << 30;
  r.timeout_s = 90;
  r.slurm = {{"partition", "gpu"},           {"account", "ml"}, {"qos", "high"},
             {"constraint", "a100"},         {"nodes", 2},      {"ntasks_per_node", 4},
             {"extra_args", {"--exclusive"}}};
  const auto files = slurm_job_files(r);
  const auto a = sbatch_argv(r, files, "/opt/llmops/bin/llmops", "/shared/work");
  CHECK(a.front() == "sbatch");
  CHECK(has(a, "--parsable"));
  CHECK(has(a, "--job-name=train.r12"));
  CHECK(has(a, "--comment=llmops:demo:run12:train:2"));
  CHECK(has(a, "--output=/shared/home/runs/12/train.log"));
  CHECK(has(a, "--open-mode=append"));
  CHECK(has(a, "--chdir=/shared/work"));
  CHECK(has(a, "--partition=gpu"));
  CHECK(has(a, "--account=ml"));
  CHECK(has(a, "--qos=high"));
  CHECK(has(a, "--constraint=a100"));
  CHECK(has(a, "--nodes=2"));
  CHECK(has(a, "--ntasks-per-node=4"));
  CHECK(has(a, "--cpus-per-task=2"));  // rounded up
  CHECK(has(a, "--mem=3072M"));
  CHECK(has(a, "--gpus=2"));
  CHECK(has(a, "--time=0-00:02:00"));  // the step's timeout, up to whole minutes
  CHECK(has(a, "--exclusive"));
  // The script and its arguments come last, the paths as arguments, never inside shell code.
  const std::vector<std::string> tail(a.end() - 5, a.end());
  CHECK(tail == std::vector<std::string>{files.script.string(), "/opt/llmops/bin/llmops",
                                         files.request.string(), files.events.string(),
                                         files.marker.string()});
  CHECK(slurm_job_script().find("$(hostname)") != std::string::npos);
  CHECK(slurm_job_script().find("exec \"$worker\" exec-step \"$request\" 3>>\"$events\"") !=
        std::string::npos);

  r.slurm = {{"time", 3600 * 26 + 1}};  // slurm.time wins over the timeout
  const auto b = sbatch_argv(r, files, "llmops", "/");
  CHECK(has(b, "--time=1-02:01:00"));
  r.slurm = nlohmann::json::object();
  r.timeout_s = 0;
  r.cpus = 0;
  r.memory_limit = 0;
  r.gpus = 0;
  const auto c = sbatch_argv(r, files, "llmops", "/");
  for (const auto& arg : c) {
    CHECK(arg.rfind("--time", 0) != 0);
    CHECK(arg.rfind("--mem", 0) != 0);
    CHECK(arg.rfind("--cpus", 0) != 0);
  }
}

TEST_CASE("squeue, scontrol and sacct output is parsed, and garbage is skipped", "[slurm]") {
  auto q = parse_squeue(
      "12|RUNNING|vm|None\n13|PENDING||Resources\nbad line\n|x|\n14|CANCELLED by 0|(null)|\n");
  REQUIRE(q.size() == 3);
  CHECK(q[0].id == "12");
  CHECK(q[0].state == "RUNNING");
  CHECK(q[0].node == "vm");
  CHECK(q[0].reason.empty());
  CHECK(q[1].state == "PENDING");
  CHECK(q[1].reason == "Resources");
  CHECK(q[2].state == "CANCELLED");
  CHECK(q[2].node.empty());

  auto s = parse_scontrol_job(
      "JobId=7 JobName=ex.r3 UserId=root(0) JobState=OUT_OF_MEMORY Reason=OutOfMemory "
      "Dependency=(null) ExitCode=0:125 NodeList=vm Command=/a b/job.sh WorkDir=/x y");
  REQUIRE(s);
  CHECK(s->id == "7");
  CHECK(s->state == "OUT_OF_MEMORY");
  CHECK(s->reason == "OutOfMemory");
  CHECK(s->exit_code == 0);
  CHECK(s->signal == 125);
  CHECK(s->node == "vm");
  CHECK_FALSE(parse_scontrol_job("slurm_load_jobs error: Invalid job id specified"));
  CHECK_FALSE(parse_scontrol_job("JobId=x JobState=RUNNING"));
  CHECK_FALSE(parse_scontrol_job("JobId=5 ExitCode=99999999999:1"));  // no state

  auto a = parse_sacct("21|COMPLETED|0:0|vm\n22|FAILED|3:0|vm\n22.batch|FAILED|3:0|vm\n");
  REQUIRE(a.size() == 2);
  CHECK(a[1].exit_code == 3);

  CHECK(parse_sbatch_id("42\n") == std::optional<std::string>("42"));
  CHECK(parse_sbatch_id("42;cluster2") == std::optional<std::string>("42"));
  CHECK_FALSE(parse_sbatch_id("sbatch: error: something"));
  CHECK_FALSE(parse_sbatch_id(""));
}

TEST_CASE("every Slurm state maps to a phase, and failures say which limit to raise", "[slurm]") {
  for (const char* s : {"PENDING", "CONFIGURING", "REQUEUED", "SUSPENDED"})
    CHECK(slurm_phase(s) == SlurmPhase::kWaiting);
  for (const char* s : {"RUNNING", "COMPLETING"}) CHECK(slurm_phase(s) == SlurmPhase::kRunning);
  CHECK(slurm_phase("COMPLETED") == SlurmPhase::kSucceeded);
  for (const char* s : {"NODE_FAIL", "PREEMPTED", "BOOT_FAIL"})
    CHECK(slurm_phase(s) == SlurmPhase::kRetryable);
  CHECK(slurm_phase("CANCELLED") == SlurmPhase::kCancelled);
  for (const char* s : {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "SOMETHING_NEW"})
    CHECK(slurm_phase(s) == SlurmPhase::kFailed);
  for (auto p : {SlurmPhase::kWaiting, SlurmPhase::kRunning}) CHECK_FALSE(slurm_done(p));

  StepRequest r;
  r.memory_limit = int64_t(64) << 20;
  r.timeout_s = 600;
  SlurmJob j{"9", "OUT_OF_MEMORY", "vm", "OutOfMemory", 0, 0};
  const auto oom = slurm_failure(j, r);
  CHECK(oom.find("slurm: OUT_OF_MEMORY on node vm (job 9)") == 0);
  CHECK(oom.find("raise resources.memory (now 64Mi)") != std::string::npos);
  j.state = "TIMEOUT";
  const auto late = slurm_failure(j, r);
  CHECK(late.find("raise slurm.time or the step's timeout (now 0-00:10:00)") != std::string::npos);
  j.state = "FAILED";
  j.exit_code = 3;
  j.reason = "NonZeroExitCode";
  CHECK(slurm_failure(j, r) == "slurm: FAILED on node vm (job 9): exit code 3");
  j.state = "NODE_FAIL";
  CHECK(slurm_failure(j, r).find("can be retried") != std::string::npos);
}

TEST_CASE("slurm: is checked by the loader and merged over the defaults", "[slurm][loader]") {
  auto ok = load(R"(defaults:
  executor: slurm
  slurm: {partition: cpu, time: 2h, extra_args: [--exclusive]}
steps:
  a:
    uses: testing/noop
    slurm: {partition: gpu, nodes: 2, ntasks_per_node: 2, extra_args: ["--mail-type=END"]}
)");
  INFO(messages(ok));
  REQUIRE(ok.ok());
  CHECK(ok.spec->defaults.executor == "slurm");
  CHECK(ok.spec->defaults.slurm["time"] == 7200.0);
  const auto merged = slurm_merge(ok.spec->defaults.slurm, ok.spec->steps[0].slurm);
  CHECK(merged["partition"] == "gpu");
  CHECK(merged["nodes"] == 2);
  CHECK(merged["extra_args"] == nlohmann::json({"--exclusive", "--mail-type=END"}));

  auto bad = load(R"(steps:
  a:
    uses: testing/noop
    executor: slurm
    slurm:
      partiton: gpu
      nodes: 0
      time: soon
      extra_args: [--mem=4G, -N2, "--part=x", --exclusive]
)");
  const auto m = messages(bad);
  CHECK_FALSE(bad.ok());
  CHECK(m.find("t.yaml:9:7: error: unknown key 'partiton'") != std::string::npos);
  CHECK(m.find("did you mean 'partition'") != std::string::npos);
  CHECK(m.find("'nodes' in 'slurm' of step 'a' must be 1 or more") != std::string::npos);
  CHECK(m.find("'time'") != std::string::npos);
  CHECK(m.find("'--mem=4G' sets --mem, which the executor owns: use resources.memory") !=
        std::string::npos);
  CHECK(m.find("'-N2' is not a long option") != std::string::npos);
  CHECK(m.find("'--part=x' sets --partition") != std::string::npos);
  CHECK(m.find("--exclusive") == std::string::npos);

  CHECK(slurm_extra_arg_problem("--exclusive").empty());
  CHECK_FALSE(slurm_extra_arg_problem("--export=NONE").empty());
  CHECK_FALSE(slurm_extra_arg_problem("--wrap").empty());
}

TEST_CASE("the executor can come from a parameter, so one file runs locally or on Slurm",
          "[slurm][loader]") {
  const std::string body = R"(params:
  executor: {type: string, default: subprocess}
steps:
  a: {uses: testing/noop, executor: "${{ params.executor }}"}
)";
  auto local = load(body);
  INFO(messages(local));
  REQUIRE(local.ok());
  CHECK(local.spec->steps[0].executor == "subprocess");
  auto remote = load(body, {{"executor", "slurm"}});
  REQUIRE(remote.ok());
  CHECK(remote.spec->steps[0].executor == "slurm");
  auto wrong = load(body, {{"executor", "slurn"}});
  CHECK_FALSE(wrong.ok());
  CHECK(messages(wrong).find("unknown executor 'slurn'") != std::string::npos);
  CHECK(messages(wrong).find("did you mean 'slurm'") != std::string::npos);
}
