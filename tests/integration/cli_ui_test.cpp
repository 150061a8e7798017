// `llmops ui` as a real server over a real store: the JSON API, its errors, the live event stream,
// the read-only default and the token-gated actions. (The pages themselves are tested in Chromium
// by ui/tests/e2e.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "cli_harness.hpp"
#include "ui/layout.hpp"

using namespace llmops::testing;
using nlohmann::json;

namespace {

const char* kSleepy = R"(apiVersion: llmops/v1
kind: Pipeline
name: sleepy
steps:
  first: {uses: testing/noop}
  nap: {uses: testing/sleep, needs: [first], with: {seconds: 1.5}, cache: false}
)";

const char* kFailing = R"(apiVersion: llmops/v1
kind: Pipeline
name: failing
steps:
  broken: {uses: testing/fail, with: {message: "no luck"}, cache: false}
)";

struct HttpReply {
  int status = 0;
  std::string head, body;
  json json_body() const { return json::parse(body, nullptr, false); }
};

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  REQUIRE(send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// Reads until the server closes or `done(text)` holds, for at most `timeout_s`.
std::string read_until(int fd, const std::function<bool(const std::string&)>& done,
                       double timeout_s) {
  std::string text;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end && !done(text)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[8192];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

// Whether the event stream `text` holds an event `kind` whose data has this name (step events;
// "" for run events) and state.
bool has_event(const std::string& text, const std::string& kind, const std::string& name,
               const std::string& state) {
  size_t at = 0;
  while ((at = text.find("event: " + kind + "\ndata: ", at)) != std::string::npos) {
    const size_t start = at + kind.size() + 14, end = text.find('\n', start);
    if (end == std::string::npos) return false;
    auto j = json::parse(text.substr(start, end - start), nullptr, false);
    if (j.is_object() && j.value("state", "") == state &&
        (name.empty() || j.value("name", "") == name))
      return true;
    at = end;
  }
  return false;
}

class Ui {
 public:
  explicit Ui(const TempHome& t, std::vector<std::string> env = {},
              std::vector<std::string> extra = {})
      : t_(t) {
    static int n = 0;
    const std::string tag = "ui" + std::to_string(n++);
    std::vector<std::string> args = {"ui", "--port", "0", "--pipelines", t.path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = spawn_cli(t, args, tag, env);
    REQUIRE(wait_until(
        [&] {
          return slurp(t.path() / (tag + ".out")).find("http://127.0.0.1:") != std::string::npos;
        },
        20));
    const std::string out = slurp(t.path() / (tag + ".out"));
    port_ = std::stoi(out.substr(out.find("127.0.0.1:") + 10));
  }
  ~Ui() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  HttpReply request(const std::string& method, const std::string& target,
                    const std::vector<std::string>& headers = {}, const std::string& body = "") {
    const int fd = connect_to(port_);
    std::string req = method + " " + target + " HTTP/1.1\r\nConnection: close\r\n";
    bool has_host = false;
    for (const auto& h : headers) {
      req += h + "\r\n";
      has_host = has_host || h.rfind("Host:", 0) == 0;
    }
    if (!has_host) req += "Host: " + host() + "\r\n";
    if (!body.empty()) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    send_all(fd, req);
    const std::string text = read_until(
        fd, [](const std::string&) { return false; }, 30);
    close(fd);
    HttpReply r;
    const size_t sp = text.find(' ');
    if (sp != std::string::npos) r.status = std::atoi(text.c_str() + sp + 1);
    const size_t end = text.find("\r\n\r\n");
    r.head = text.substr(0, end);
    if (end != std::string::npos) r.body = text.substr(end + 4);
    return r;
  }
  json get(const std::string& target, int want = 200) {
    auto r = request("GET", target);
    INFO(target << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == want);
    auto j = r.json_body();
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }
  std::string error_code(const std::string& target, int want) {
    return get(target, want)["error"].value("code", "");
  }

 private:
  const TempHome& t_;
  pid_t pid_ = -1;
  int port_ = 0;
};

int64_t run_pipeline(const TempHome& t, const std::string& file) {
  auto r = run_cli(t, {"run", file, "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.json()["run"].get<int64_t>();
}

}  // namespace

TEST_CASE("ui: a missing store is a clear 503 until the first run makes it", "[ui]") {
  TempHome t;
  Ui ui(t);
  auto meta = ui.get("/api/meta");
  CHECK(meta["store"] == "missing");
  CHECK(meta["actions"] == false);
  CHECK(ui.error_code("/api/runs", 503) == "no_store");
  const int64_t id =
      run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  auto runs = ui.get("/api/runs");
  REQUIRE(runs["runs"].size() == 1);
  CHECK(runs["runs"][0]["id"] == id);
  CHECK(runs["runs"][0]["state"] == "succeeded");
  CHECK(runs["runs"][0]["steps"]["total"] == 4);
  CHECK(runs["runs"][0]["steps"]["succeeded"] == 4);
  CHECK(runs["pipelines"] == json::array({"diamond"}));
  // The front end answers every page address (client-side routes).
  auto page = ui.request("GET", "/runs/" + std::to_string(id));
  CHECK(page.status == 200);
  CHECK(page.head.find("text/html") != std::string::npos);
  CHECK(page.head.find("Content-Security-Policy: default-src 'self'") != std::string::npos);
}

TEST_CASE("ui: the run page's snapshot, a step's panel and its log", "[ui]") {
  TempHome t;
  const int64_t id =
      run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  Ui ui(t);
  auto run = ui.get("/api/runs/" + std::to_string(id));
  CHECK(run["run"]["pipeline"] == "diamond");
  CHECK(run["layout"] == "dagre");
  CHECK(run["spec_error"].is_null());
  std::map<std::string, json> steps;
  for (const auto& s : run["steps"]) steps[s["name"]] = s;
  REQUIRE(steps.size() == 4);
  CHECK(steps["top"]["uses"] == "testing/write");
  CHECK(steps["top"]["level"] == 0);
  CHECK(steps["left"]["level"] == 1);
  CHECK(steps["bottom"]["level"] == 2);
  CHECK(run["edges"].size() == 4);
  for (const auto& [name, s] : steps) CHECK(s["state"] == "succeeded");

  auto step = ui.get("/api/runs/" + std::to_string(id) + "/steps/bottom");
  CHECK(step["step"]["needs"].size() == 2);
  REQUIRE(step["executions"].size() == 1);
  CHECK(step["executions"][0]["outputs"].contains("out"));
  CHECK(step["executions"][0]["inputs"].contains("l"));
  const std::string digest = step["executions"][0]["outputs"]["out"]["digest"];

  auto art = ui.get("/api/artifacts/" + digest.substr(0, 20));
  CHECK(art["artifact"]["digest"] == digest);
  CHECK(art["producer"]["step"] == "bottom");
  auto lineage = ui.get("/api/lineage?ref=" + digest + "&direction=upstream");
  bool reached_top = false;
  for (const auto& n : lineage["nodes"])
    reached_top = reached_top || n["label"].get<std::string>().find(": top") != std::string::npos;
  CHECK(reached_top);

  auto log = ui.get("/api/runs/" + std::to_string(id) + "/steps/top/log");
  CHECK(log["size"].get<int64_t>() == static_cast<int64_t>(log["text"].get<std::string>().size()));
  auto attempts = ui.get("/api/runs/" + std::to_string(id) + "/attempts");
  CHECK(attempts["attempts"].size() == 4);
}

TEST_CASE("ui: past a size, a run's snapshot is a summary", "[ui]") {
  TempHome t;
  const int64_t id =
      run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  Ui ui(t, {"LLMOPS_UI_SUMMARY_STEPS=3"});
  auto run = ui.get("/api/runs/" + std::to_string(id));
  CHECK(run["layout"] == "summary");
  CHECK(run["total_steps"] == 4);
  CHECK(run["counts"]["succeeded"] == 4);
  CHECK(run["steps"].empty());  // nothing running, failed or cancelled
  CHECK(run["edges"].empty());
}

TEST_CASE("ui: bad input gets a clear JSON error, never a crash", "[ui]") {
  TempHome t;
  run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  Ui ui(t);
  CHECK(ui.error_code("/api/runs/999", 404) == "no_such_run");
  CHECK(ui.error_code("/api/runs/1/steps/nope", 404) == "no_such_step");
  CHECK(ui.error_code("/api/runs/1/steps/nope/log", 404) == "no_such_step");
  CHECK(ui.error_code("/api/runs/abc", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs/99999999999999999999999", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?limit=abc", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?limit=0", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?limit=100000", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?state=sleeping", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?foo=1", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?pipeline=%zz", 400) == "bad_query");
  CHECK(ui.error_code("/api/runs?limit=1&limit=2", 400) == "bad_query");
  CHECK(ui.error_code("/api/artifacts/sha256:ffffffffffffffff", 404) == "no_such_artifact");
  CHECK(ui.error_code("/api/lineage?ref=deployment:none", 404) == "no_such_artifact");
  CHECK(ui.error_code("/api/deployments/none", 404) == "no_such_deployment");
  CHECK(ui.error_code("/api/nothing", 404) == "no_route");
  CHECK(ui.request("GET", "/api/runs?x=" + std::string(9000, 'a')).status == 414);
  CHECK(ui.request("DELETE", "/api/runs").status == 405);
  // DNS rebinding: another name that resolves here is refused.
  CHECK(ui.request("GET", "/api/runs", {"Host: evil.example:80"}).status == 421);
  // Read-only by default: actions are refused.
  auto post = ui.request("POST", "/api/runs/1/rerun");
  CHECK(post.status == 403);
  CHECK(post.json_body()["error"]["code"] == "read_only");
  // Malformed HTTP: an answer, and the server lives on.
  const int fd = connect_to(ui.port());
  send_all(fd, "GARBAGE\r\n\r\n");
  const std::string text = read_until(
      fd, [](const std::string&) { return false; }, 10);
  close(fd);
  CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(ui.get("/api/meta")["store"] == "ok");
}

TEST_CASE("ui: a store of a newer schema is a 409, not a crash", "[ui]") {
  TempHome t;
  run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  Ui ui(t);
  ui.get("/api/runs");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((t.home() / "llmops.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "INSERT INTO schema_version(version, applied_at) VALUES (99, 0)",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  // The running server notices (its pooled readers check the version), as does a fresh one.
  CHECK(ui.error_code("/api/runs", 409) == "schema_too_new");
  Ui fresh(t);
  auto j = fresh.get("/api/runs", 409);
  CHECK(j["error"]["code"] == "schema_too_new");
  CHECK(j["error"]["message"].get<std::string>().find("upgrade llmops") != std::string::npos);
  CHECK(fresh.get("/api/meta")["store"] == "schema_too_new");
}

TEST_CASE("ui: the event stream follows a live run and resyncs an unknown id", "[ui]") {
  TempHome t;
  const auto file = t.write("sleepy.yaml", kSleepy);
  Ui ui(t);
  // The store exists before the stream starts, so the feed has a place to look.
  run_cli(t, {"runs"});
  const std::string cursor = ui.get("/api/runs")["cursor"];
  const int fd = connect_to(ui.port());
  send_all(fd, "GET /api/events?last_event_id=stale-7 HTTP/1.1\r\nHost: " + ui.host() +
                   "\r\nAccept: text/event-stream\r\n\r\n");
  const std::string first = read_until(
      fd, [](const std::string& s) { return s.find("event: resync") != s.npos; }, 10);
  close(fd);
  CHECK(first.find("text/event-stream") != std::string::npos);
  CHECK(first.find("event: resync") != std::string::npos);

  const pid_t run = spawn_cli(t, {"run", file.string()}, "live");
  // Run 1: follow it from the cursor taken before it started.
  const int fd2 = connect_to(ui.port());
  send_all(fd2, "GET /api/events?run=1&last_event_id=" + cursor +
                    " HTTP/1.1\r\nHost: " + ui.host() + "\r\n\r\n");
  const std::string seen = read_until(
      fd2, [](const std::string& s) { return has_event(s, "step", "nap", "succeeded"); }, 30);
  close(fd2);
  CHECK(wait_cli(t, run, "live").exit_code == 0);
  INFO(seen);
  CHECK(seen.find("event: resync") == std::string::npos);
  CHECK(has_event(seen, "step", "nap", "running"));
  CHECK(has_event(seen, "step", "nap", "succeeded"));
  CHECK(has_event(seen, "step", "first", "succeeded"));
  CHECK(has_event(seen, "run", "", "running"));
}

TEST_CASE("ui: a resumed run is live again on the stream", "[ui]") {
  TempHome t;
  const auto file = t.write("failing.yaml", kFailing);
  CHECK(run_cli(t, {"run", file.string()}).exit_code == 1);
  Ui ui(t);
  const std::string cursor = ui.get("/api/runs/1")["cursor"];
  const int fd = connect_to(ui.port());
  send_all(fd, "GET /api/events?run=1&last_event_id=" + cursor + " HTTP/1.1\r\nHost: " + ui.host() +
                   "\r\n\r\n");
  const pid_t resume = spawn_cli(t, {"resume", "1"}, "resume");
  const std::string seen = read_until(
      fd,
      [](const std::string& s) {
        return has_event(s, "run", "", "failed") && has_event(s, "step", "broken", "failed");
      },
      30);
  close(fd);
  wait_cli(t, resume, "resume");
  INFO(seen);
  // It may end before the feed looks again (it fails in milliseconds): then its new end is seen.
  CHECK(has_event(seen, "run", "", "failed"));
  CHECK(has_event(seen, "step", "broken", "failed"));
  CHECK(seen.find("\"attempts\":2") != std::string::npos);
}

TEST_CASE("ui: HEAD, downloads, and files only from the front end's folder", "[ui]") {
  TempHome t;
  run_pipeline(t, (fs::path(LLMOPS_SOURCE_DIR) / "tests/data/good/diamond.yaml").string());
  Ui ui(t);
  auto head = ui.request("HEAD", "/index.html");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  auto log = ui.get("/api/runs/1/steps/top/log");
  auto dl = ui.request("GET", "/api/runs/1/steps/top/log/download");
  CHECK(dl.status == 200);
  CHECK(dl.body == log["text"].get<std::string>());
  CHECK(dl.head.find("attachment; filename=\"run-1-top.log\"") != std::string::npos);
  // Serving ui/web from disk: an absolute or climbing path never leaves it.
  Ui disk(t, {}, {"--assets", (fs::path(LLMOPS_SOURCE_DIR) / "ui/web").string()});
  for (const std::string target :
       {"//etc/passwd", "/%2Fetc/passwd", "/../../etc/passwd", "/js/../../../etc/passwd"}) {
    auto r = disk.request("GET", target);
    INFO(target);
    CHECK(r.body.find("root:") == std::string::npos);
    CHECK(r.head.find("text/html") != std::string::npos);  // the page's fallback
  }
}

TEST_CASE("ui: actions need the token, a same-origin request, and are recorded", "[ui]") {
  TempHome t;
  const auto file = t.write("sleepy.yaml", kSleepy);
  const int64_t id = run_pipeline(t, file.string());
  Ui ui(t, {"LLMOPS_UI_TOKEN=s3cret"});
  CHECK(ui.get("/api/meta")["actions"] == true);
  const std::string rerun = "/api/runs/" + std::to_string(id) + "/rerun";
  CHECK(ui.request("POST", rerun).status == 401);
  CHECK(ui.request("POST", rerun, {"Authorization: Bearer wrong"}).status == 401);
  CHECK(ui.request("POST", rerun, {"Authorization: Bearer s3cret", "Origin: http://evil.example"})
            .status == 403);
  auto ok =
      ui.request("POST", rerun, {"Authorization: Bearer s3cret", "Origin: http://" + ui.host()},
                 R"({"actor":"alice"})");
  INFO(ok.body);
  REQUIRE(ok.status == 202);
  CHECK(ok.json_body()["actor"] == "alice");
  // The rerun is a real run of the same file.
  REQUIRE(wait_until([&] { return ui.get("/api/runs")["runs"].size() == 2; }, 30));
  REQUIRE(wait_until([&] { return ui.get("/api/runs")["runs"][0]["state"] == "succeeded"; }, 30));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((t.home() / "llmops.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT actor, action, target FROM actions", -1, &q, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))) == "alice");
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 1))) == "rerun");
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 2))) ==
        "run:" + std::to_string(id));
  sqlite3_finalize(q);
  sqlite3_close(db);
}

TEST_CASE("ui: the layered layout of a big DAG is linear and has no recursion", "[ui]") {
  // A 20,000-step chain (recursive layouts overflow the stack on these) and a diamond.
  std::vector<std::pair<int, int>> chain;
  for (int i = 0; i + 1 < 20000; ++i) chain.emplace_back(i, i + 1);
  auto l = llmops::ui::layer_layout(20000, chain);
  CHECK(l.level[19999] == 19999);
  auto d = llmops::ui::layer_layout(4, {{0, 1}, {0, 2}, {1, 3}, {2, 3}});
  CHECK(d.level == std::vector<int>{0, 1, 1, 2});
  CHECK(d.order[1] != d.order[2]);
}
