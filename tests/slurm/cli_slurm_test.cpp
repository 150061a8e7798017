// `executor: slurm` end to end: the real llmops binary against a real single-node Slurm
// (slurmctld + slurmd + munged, started by the ctest fixture with scripts/slurm-local.sh; its
// slurm.conf comes in SLURM_CONF). Each test has its own LLMOPS_HOME and a pipeline name of its
// own, so that its jobs can be told apart in squeue by their comment.
#include <catch2/catch.hpp>

#include "tests/integration/cli_harness.hpp"

using namespace llmops::testing;

namespace {

// Runs a Slurm client command (argv, no shell) and returns its stdout.
std::string slurm_cmd(const std::vector<std::string>& args) {
  std::string cmd;
  for (const auto& a : args) {
    REQUIRE(a.find('\'') == std::string::npos);
    cmd += "'" + a + "' ";
  }
  FILE* p = popen((cmd + "2>/dev/null").c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

// The jobs of `pipeline`'s run `run`, "id|state" per job, from their comment
// (llmops:PIPELINE:runN:STEP:ATTEMPT).
std::vector<std::string> jobs_of(const std::string& pipeline, int run) {
  const std::string tag = "llmops:" + pipeline + ":run" + std::to_string(run) + ":";
  std::vector<std::string> out;
  std::istringstream in(slurm_cmd({"squeue", "-h", "-t", "all", "-o", "%i|%T|%k"}));
  for (std::string line; std::getline(in, line);)
    if (line.find(tag) != std::string::npos) out.push_back(line.substr(0, line.rfind('|')));
  return out;
}

std::string scontrol_job(const std::string& external_id) {
  REQUIRE(external_id.rfind("slurm:", 0) == 0);
  return slurm_cmd({"scontrol", "show", "job", "-o", external_id.substr(6)});
}

std::string unique_name(const std::string& base) {
  return base + "-" + std::to_string(getpid());
}

std::string header(const std::string& name) {
  return "apiVersion: llmops/v1\nkind: Pipeline\nname: " + name + "\n";
}

}  // namespace

TEST_CASE("a diamond runs as Slurm jobs with its resources, artifacts and logs", "[slurm]") {
  TempHome t;
  const auto name = unique_name("diamond");
  const auto file = t.write("p.yaml", header(name) + R"(defaults: {executor: slurm}
steps:
  a: {uses: testing/write, with: {text: alpha}}
  b: {uses: testing/write, with: {text: beta}, needs: [a]}
  c:
    uses: testing/write
    with: {text: gamma}
    needs: [a]
    resources: {cpus: 1, memory: 300Mi}
    slurm: {time: 7m, extra_args: [--hold-on-nothing-is-not-a-flag-we-use]}
  d:
    uses: testing/concat
    inputs: {x: "${{ steps.b.outputs.out }}", y: "${{ steps.c.outputs.out }}"}
)");
  // An unknown sbatch option is Slurm's to refuse: the step fails with its message.
  auto refused = run_cli(t, {"run", file.string()});
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code != 0);
  CHECK(refused.out.find("sbatch refused the job: sbatch: unrecognized option") !=
        std::string::npos);

  std::string text = slurp(file);
  text.replace(text.find(", extra_args: [--hold-on-nothing-is-not-a-flag-we-use]"),
               std::string(", extra_args: [--hold-on-nothing-is-not-a-flag-we-use]").size(), "");
  t.write("p.yaml", text);
  auto r = run_cli(t, {"run", file.string(), "--json", "--no-cache"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto show = show_json(t, 2);
  CHECK(show["state"] == "succeeded");
  CHECK(read_artifact(output_of(show, "d", "out")["uri"].get<std::string>()) == "betagamma");
  // Every step ran as a job of this run, once.
  CHECK(jobs_of(name, 2).size() == 4);
  for (const char* s : {"a", "b", "c", "d"}) {
    const auto ext = sql_one(t, std::string("SELECT external_id FROM executions WHERE run_id = 2 "
                                            "AND step = '") +
                                    s + "'");
    CHECK(ext.rfind("slurm:", 0) == 0);
    const auto placement = nlohmann::json::parse(sql_one(
        t,
        std::string("SELECT placement FROM executions WHERE run_id = 2 AND step = '") + s + "'"));
    CHECK(placement["state"] == "COMPLETED");
    CHECK_FALSE(placement["node"].get<std::string>().empty());
  }
  // resources and slurm.time reached the job.
  const auto job = scontrol_job(
      sql_one(t, "SELECT external_id FROM executions WHERE run_id = 2 AND step = 'c'"));
  INFO(job);
  CHECK(job.find("NumCPUs=1 ") != std::string::npos);
  CHECK(job.find("MinMemoryNode=300M") != std::string::npos);
  CHECK(job.find("TimeLimit=00:07:00") != std::string::npos);
  CHECK(job.find("Comment=llmops:" + name + ":run2:c:1") != std::string::npos);
  // show and runs --json say where each attempt ran.
  const auto c = step_of(show, "c");
  INFO(c.dump());
  CHECK(c["executions"][0]["slurm"]["state"] == "COMPLETED");
  CHECK(c["executions"][0]["external_id"].get<std::string>().rfind("slurm:", 0) == 0);
  auto text_show = run_cli(t, {"show", "2"});
  CHECK(text_show.out.find("slurm job ") != std::string::npos);
}

TEST_CASE("a step past its memory or its time limit fails with the limit to raise", "[slurm]") {
  TempHome t;
  const auto file = t.write("p.yaml", header(unique_name("limits")) + R"(defaults: {executor: slurm}
steps:
  hog: {uses: testing/crash, with: {mode: oom}, resources: {memory: 200Mi}}
  late: {uses: testing/sleep, with: {seconds: 600}, slurm: {time: 1m}}
)");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_cli(t, {"run", file.string()});
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(took < 240);  // Slurm's time limit (1 min) plus its checks, never the sleep's 10 min
  const auto hog = sql_one(t, "SELECT error FROM executions WHERE step = 'hog'");
  CHECK(hog.find("out of memory") != std::string::npos);
  const auto late = sql_one(t, "SELECT error FROM executions WHERE step = 'late'");
  CHECK(late.find("slurm: TIMEOUT on node") != std::string::npos);
  CHECK(late.find("raise slurm.time or the step's timeout (now 0-00:01:00)") != std::string::npos);
}

TEST_CASE("an engine killed mid-job is resumed by re-attaching, not by a second sbatch",
          "[slurm]") {
  TempHome t;
  const auto name = unique_name("reattach");
  const auto file = t.write("p.yaml", header(name) + R"(defaults: {executor: slurm}
steps:
  s1: {uses: testing/sleep, with: {seconds: 4}}
  s2: {uses: testing/sleep, with: {seconds: 4}}
  after: {uses: testing/write, with: {text: done}, needs: [s1, s2]}
)");
  const auto pid = spawn_cli(t, {"run", file.string()}, "first");
  REQUIRE(pid > 0);
  REQUIRE(wait_until(
      [&] {
        return sql_one(t, "SELECT COUNT(*) FROM executions WHERE external_id LIKE 'slurm:%'") ==
               "2";
      },
      60));
  kill(pid, SIGKILL);
  wait_cli(t, pid, "first");
  CHECK(jobs_of(name, 1).size() == 2);
  auto r = run_cli(t, {"resume", "1"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("reattached to slurm:") != std::string::npos);
  // s1 and s2: one execution each, their first job; then one job for `after`.
  CHECK(sql_one(t, "SELECT COUNT(*) FROM executions WHERE step IN ('s1', 's2')") == "2");
  CHECK(jobs_of(name, 1).size() == 3);
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 1") == "succeeded");
}

TEST_CASE("Ctrl-C cancels the run's Slurm jobs", "[slurm]") {
  TempHome t;
  const auto name = unique_name("interrupt");
  const auto file = t.write("p.yaml", header(name) + R"(defaults: {executor: slurm}
steps:
  s1: {uses: testing/sleep, with: {seconds: 300}}
  s2: {uses: testing/sleep, with: {seconds: 300}}
)");
  const auto pid = spawn_cli(t, {"run", file.string()}, "run");
  REQUIRE(pid > 0);
  REQUIRE(wait_until(
      [&] {
        return sql_one(t,
                       "SELECT COUNT(*) FROM executions WHERE placement LIKE "
                       "'%\"state\":\"RUNNING\"%'") == "2";
      },
      60));
  kill(pid, SIGINT);
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "run", 60, &timed_out);
  INFO(r.out << r.err);
  CHECK_FALSE(timed_out);
  CHECK(r.exit_code != 0);
  CHECK(sql_one(t, "SELECT state FROM runs WHERE id = 1") == "cancelled");
  CHECK(wait_until(
      [&] {
        auto jobs = jobs_of(name, 1);
        return jobs.size() == 2 && std::all_of(jobs.begin(), jobs.end(), [](const auto& j) {
                 return j.find("|CANCELLED") != std::string::npos;
               });
      },
      30));
}

TEST_CASE("curate locally, train on Slurm: executors mix in one pipeline", "[slurm]") {
  TempHome t;
  const auto file = t.write("p.yaml", header(unique_name("mixed")) + R"(steps:
  curate: {uses: testing/write, with: {text: data}, executor: subprocess}
  train:
    uses: testing/concat
    executor: slurm
    inputs: {x: "${{ steps.curate.outputs.out }}", y: "${{ steps.curate.outputs.out }}"}
)");
  auto r = run_cli(t, {"run", file.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(sql_one(t, "SELECT external_id FROM executions WHERE step = 'curate'").rfind("slurm:", 0) ==
        std::string::npos);
  CHECK(sql_one(t, "SELECT external_id FROM executions WHERE step = 'train'").rfind("slurm:", 0) ==
        0);
  CHECK(read_artifact(output_of(show_json(t, 1), "train", "out")["uri"].get<std::string>()) ==
        "datadata");
}

TEST_CASE("without a Slurm to talk to, nothing starts and validate says what is missing",
          "[slurm]") {
  TempHome t;
  const auto file = t.write("p.yaml", header("nocluster") + R"(steps:
  a: {uses: testing/noop, executor: slurm}
)");
  auto v = run_cli_env(t, {"validate", file.string()}, {"SLURM_CONF=/nonexistent/slurm.conf"});
  INFO(v.out << v.err);
  CHECK(v.exit_code != 0);
  CHECK(v.err.find("p.yaml:5:3: error: step a: executor slurm: SLURM_CONF names "
                   "/nonexistent/slurm.conf, which cannot be read") != std::string::npos);
  // A slurm.conf whose controller is not there (a port nothing listens on).
  std::string conf = slurp(std::getenv("SLURM_CONF"));
  const size_t at = conf.find("SlurmctldPort=");
  REQUIRE(at != std::string::npos);
  conf.replace(at, conf.find('\n', at) - at, "SlurmctldPort=1");
  const auto down = t.write("down.conf", conf);
  auto d = run_cli_env(t, {"validate", file.string()}, {"SLURM_CONF=" + down.string()});
  INFO(d.out << d.err);
  CHECK(d.exit_code != 0);
  CHECK(d.err.find("p.yaml:5:3: error: step a: executor slurm: slurmctld does not answer") !=
        std::string::npos);
  auto r = run_cli_env(t, {"run", file.string()}, {"PATH=/nonexistent"});
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("sbatch is not on PATH") != std::string::npos);
  const bool recorded = fs::exists(db_path(t)) && sql_one(t, "SELECT COUNT(*) FROM runs") != "0";
  CHECK_FALSE(recorded);  // no run was recorded
}

TEST_CASE("a store the nodes cannot reach is refused with the reason", "[slurm]") {
  if (geteuid() != 0) {
    WARN("skipped: needs root, to hide the store from the node in a mount namespace");
    return;
  }
  TempHome t;
  const auto file = t.write("p.yaml", header(unique_name("unshared")) + R"(steps:
  a: {uses: testing/write, with: {text: x}, executor: slurm}
)");
  // The engine sees a tmpfs at `private/` that slurmd (outside its mount namespace) does not:
  // a store that is not on a shared filesystem.
  const auto priv = t.path() / "private";
  fs::create_directories(priv);
  // A container without CAP_SYS_ADMIN cannot: then there is nothing to show here.
  const std::string probe = "/usr/bin/unshare -m /bin/sh -c 'mount -t tmpfs none \"$0\"' " +
                            priv.string() + " 2>/dev/null";
  if (std::system(probe.c_str()) != 0) {
    WARN("skipped: cannot mount a tmpfs in a new mount namespace here");
    return;
  }
  const std::string script =
      "mount -t tmpfs none \"$1\" && LLMOPS_HOME=\"$1/home\" exec \"$2\" run \"$3\"";
  std::vector<std::string> argv = {
      "/usr/bin/unshare",       "-m",         "/bin/sh", "-c", script, "sh", priv.string(),
      llmops_binary().string(), file.string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  auto env_s = child_env(t);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const auto out = (t.path() / "unshare.out").string();
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&fa);
  bool timed_out = false;
  auto res = wait_cli_for(t, pid, "unshare", 120, &timed_out);
  const auto text = slurp(out);
  INFO(text);
  CHECK_FALSE(timed_out);
  CHECK(res.exit_code != 0);
  CHECK(text.find("could not reach LLMOPS_HOME") != std::string::npos);
  CHECK(text.find("every node mounts at the same path") != std::string::npos);
}

TEST_CASE("a job that no Slurm command knows any more fails after a bounded wait", "[slurm]") {
  TempHome t;
  const auto file = t.write("p.yaml", header(unique_name("vanish")) + R"(steps:
  a: {uses: testing/sleep, with: {seconds: 30}, executor: slurm}
)");
  const auto pid = spawn_cli(t, {"run", file.string()}, "first");
  REQUIRE(pid > 0);
  REQUIRE(wait_until(
      [&] { return sql_one(t, "SELECT external_id FROM executions").rfind("slurm:", 0) == 0; },
      60));
  kill(pid, SIGKILL);
  wait_cli(t, pid, "first");
  const auto job = sql_one(t, "SELECT external_id FROM executions").substr(6);
  slurm_cmd({"scancel", job});
  // The recorded job is one Slurm never had (as when it was purged while the engine was away).
  sql(db_path(t), "UPDATE executions SET external_id = 'slurm:999999999'", true);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_cli_env(t, {"resume", "1"}, {"LLMOPS_SLURM_VANISH=2"});
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(took < 25);
  CHECK(sql_one(t, "SELECT error FROM executions")
            .find("slurm job 999999999 vanished: neither squeue, scontrol nor sacct knows it") !=
        std::string::npos);
}
