// `llmops deployments rollback | stop | show` through the real CLI, against a real llmops-serve on
// loopback that two `llmops run`s of a deployer/http pipeline started (v1) and loaded (v2): every
// change lands in the store's deployments row and its append-only history, with who did it
// (actor, user from the environment), when, and from which version to which.
#include <catch2/catch.hpp>

#include "../integration/cli_harness.hpp"
#include "deployer_test_util.hpp"
#include "store/store.hpp"

#ifdef LLMOPS_HAVE_SERVE

namespace {

namespace it = llmops::testing;
using nlohmann::json;
namespace fs = std::filesystem;

// Points this process at the test's home (USER too) and, on the way out, stops whatever server
// the test left running there, so a failed CHECK never leaks a process.
struct HomeGuard {
  std::string old_home, old_user;
  explicit HomeGuard(const fs::path& home, const std::string& user) {
    if (const char* h = std::getenv("LLMOPS_HOME")) old_home = h;
    if (const char* u = std::getenv("USER")) old_user = u;
    ::setenv("LLMOPS_HOME", home.c_str(), 1);
    ::setenv("USER", user.c_str(), 1);  // the CLI children inherit it
  }
  ~HomeGuard() {
    for (const auto& st : llmops::serve::list_deployments())
      (void)llmops::serve::stop_deployment(st.value("name", ""), 10);
    auto restore = [](const char* var, const std::string& v) {
      if (v.empty())
        ::unsetenv(var);
      else
        ::setenv(var, v.c_str(), 1);
    };
    restore("LLMOPS_HOME", old_home);
    restore("USER", old_user);
  }
};

std::string pipeline() {
  return R"(apiVersion: llmops/v1
kind: Pipeline
name: serve-tiny
params:
  version: {type: string, default: v1}
steps:
  deploy:
    uses: deployer/http
    inputs:
      model: ")" +
         dtest::tiny_model().string() + R"("
    with:
      name: tasks
      version: "${{ params.version }}"
      tokenizer: ")" +
         dtest::bpe_tokenizer().string() + R"("
      wait_seconds: 120
)";
}

std::vector<llmops::store::DeploymentRecord> history(const it::TempHome& t) {
  auto st = llmops::store::Store::open(t.home());
  REQUIRE(st);
  auto h = (*st)->deployment_history("tasks");
  REQUIRE(h);
  return *h;
}

llmops::store::DeploymentInfo row(const it::TempHome& t) {
  auto st = llmops::store::Store::open(t.home());
  REQUIRE(st);
  auto all = (*st)->list_deployments();
  REQUIRE(all);
  for (const auto& d : *all)
    if (d.name == "tasks") return d;
  FAIL("no deployments row for tasks");
  return {};
}

json info(const llmops::store::DeploymentRecord& r) {
  return json::parse(r.info_json);
}

std::string health_version(const json& state) {
  auto r = llmops::common::http_request("127.0.0.1", state["port"].get<int>(), "GET", "/health");
  if (!r || r->status != 200) return "";
  return json::parse(r->body).value("version", "");
}

}  // namespace

TEST_CASE("llmops deployments rollback and stop are recorded in the store's history",
          "[deployers][serve][cli]") {
  it::TempHome t;
  HomeGuard guard(t.home(), "deploy-tester");
  const auto file = t.write("serve.yaml", pipeline());
  for (const char* v : {"v1", "v2"}) {
    auto r = it::run_cli(t, {"run", file.string(), "-p", std::string("version=") + v, "--json"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
  }
  auto state = llmops::serve::read_deployment("tasks");
  REQUIRE(state);
  const int pid = (*state)["pid"];
  CHECK(health_version(*state) == "v2");

  // The two deploy steps, as the engine recorded them from the deployer's output.
  auto h = history(t);
  REQUIRE(h.size() == 2);
  CHECK(h[0].action == "start");
  CHECK(h[1].action == "load");
  CHECK(info(h[1])["actor"] == "run:2:deploy");
  CHECK(info(h[1])["from_version"] == "v1");
  CHECK(info(h[1])["to_version"] == "v2");
  CHECK(h[1].run_id == 2);

  SECTION("rollback and stop, each a history row; show prints them") {
    auto rb = it::run_cli(t, {"deployments", "rollback", "tasks"});
    INFO("stdout: " << rb.out << "\nstderr: " << rb.err);
    REQUIRE(rb.exit_code == 0);
    CHECK(rb.out.find("now serving v1") != std::string::npos);
    CHECK(health_version(*state) == "v1");
    h = history(t);
    REQUIRE(h.size() == 3);
    CHECK(h[2].action == "rollback");
    CHECK(h[2].state == "running");
    CHECK(h[2].created_at >= h[1].created_at);
    CHECK(h[2].created_at > 1.6e9);
    CHECK_FALSE(h[2].run_id);  // a person did it, not a run
    auto i = info(h[2]);
    CHECK(i["actor"] == "cli:rollback");
    CHECK(i["user"] == "deploy-tester");
    CHECK(i["from_version"] == "v2");
    CHECK(i["to_version"] == "v1");
    CHECK(i["restarted"] == false);
    auto current = row(t);
    CHECK(current.state == "running");
    CHECK(current.endpoint == (*state)["endpoint"]);
    CHECK_FALSE(current.run_id);

    auto stop = it::run_cli(t, {"deployments", "stop", "tasks"});
    INFO("stdout: " << stop.out << "\nstderr: " << stop.err);
    REQUIRE(stop.exit_code == 0);
    CHECK(it::wait_until([&] { return !llmops::serve::process_alive(pid); }, 30));
    h = history(t);
    REQUIRE(h.size() == 4);
    CHECK(h[3].action == "stop");
    CHECK(h[3].state == "stopped");
    i = info(h[3]);
    CHECK(i["actor"] == "cli:stop");
    CHECK(i["user"] == "deploy-tester");
    CHECK(i["was"] == "running");
    CHECK(i["to_version"] == "v1");
    CHECK(row(t).state == "stopped");

    auto show = it::run_cli(t, {"deployments", "show", "tasks"});
    INFO(show.out);
    CHECK(show.exit_code == 0);
    CHECK(show.out.find("recorded:  stopped") != std::string::npos);
    CHECK(show.out.find("history (store):") != std::string::npos);
    CHECK(show.out.find("cli:rollback (deploy-tester)") != std::string::npos);
    CHECK(show.out.find("v2 -> v1") != std::string::npos);
    CHECK(show.out.find("cli:stop (deploy-tester)") != std::string::npos);
    CHECK(show.out.find("run:2:deploy") != std::string::npos);
    auto sj = it::run_cli(t, {"deployments", "show", "tasks", "--json"});
    REQUIRE(sj.exit_code == 0);
    auto doc = json::parse(sj.out);
    CHECK(doc["store"]["state"] == "stopped");
    REQUIRE(doc["store"]["history"].size() == 4);
    CHECK(doc["store"]["history"][2]["actor"] == "cli:rollback");

    // A stopped deployment rolls back by coming up again on the version before.
    rb = it::run_cli(t, {"deployments", "rollback", "tasks"});
    INFO("stdout: " << rb.out << "\nstderr: " << rb.err);
    REQUIRE(rb.exit_code == 0);
    h = history(t);
    REQUIRE(h.size() == 5);
    i = info(h[4]);
    CHECK(i["from_version"] == "v1");
    CHECK(i["to_version"] == "v2");
    CHECK(i["restarted"] == true);
    CHECK(row(t).state == "running");
    CHECK(health_version(*llmops::serve::read_deployment("tasks")) == "v2");
  }

  SECTION("an unknown name fails with exit 2 and adds nothing") {
    CHECK(it::run_cli(t, {"deployments", "rollback", "nosuch"}).exit_code == 2);
    CHECK(it::run_cli(t, {"deployments", "stop", "nosuch"}).exit_code == 2);
    CHECK(history(t).size() == 2);
    auto st = llmops::store::Store::open(t.home());
    REQUIRE(st);
    CHECK((*st)->deployment_history("nosuch")->empty());
    CHECK(row(t).state == "running");
  }
}

#endif
