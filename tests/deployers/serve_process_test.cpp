// A real llmops-serve on loopback with the tiny Llama (tests/data/hf/tiny-llama, tokenizer from
// tests/data/hf/tokenizer-bpe): every route, streaming, auth, limits, bad requests, promotion under
// load without a failed request, and deployments (start once, load, rollback, stop).
#include <atomic>
#include <catch2/catch.hpp>
#include <future>

#include "deployer_test_util.hpp"
#include "plugins/common/http_client.hpp"

using namespace llmops::serve;
using namespace llmops::common;
using namespace dtest;

#ifdef LLMOPS_HAVE_SERVE

TEST_CASE("llmops-serve serves the tiny model on every route", "[deployers][serve]") {
  TempDir tmp;
  ServeProcess p(tmp.path, {"--max-tokens", "64", "--max-body-bytes", "65536"});
  INFO(p.output);
  REQUIRE(p.port != 0);
  HttpClient c("127.0.0.1", static_cast<uint16_t>(p.port));
  CHECK(c.request("GET", "/health")->status == 200);
  auto models = json::parse(c.request("GET", "/v1/models")->body);
  CHECK(models["data"][0]["id"] == "tiny");

  // Greedy decoding is deterministic; streaming gives the same text in pieces.
  auto r = c.request("POST", "/v1/chat/completions", chat_body("tiny", "add a task", 12));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto j = json::parse(r->body);
  const std::string text = j["choices"][0]["message"]["content"];
  CHECK(j["usage"]["completion_tokens"].get<int>() <= 12);
  CHECK(j["usage"]["prompt_tokens"].get<int>() > 0);
  auto again = json::parse(
      c.request("POST", "/v1/chat/completions", chat_body("tiny", "add a task", 12))->body);
  CHECK(again["choices"][0]["message"]["content"] == text);
  r = c.request("POST", "/v1/chat/completions",
                chat_body("tiny", "add a task", 12, {{"stream", true}}));
  REQUIRE(r->status == 200);
  auto events = sse_events(r->body);
  REQUIRE(!events.empty());
  CHECK(events.back() == "[DONE]");
  std::string streamed;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto d = json::parse(events[i])["choices"][0]["delta"];
    if (d.contains("content")) streamed += d["content"].get<std::string>();
  }
  CHECK(streamed == text);

  // Sampling with a seed repeats; completions work.
  const json sampled = {{"temperature", 1.0}, {"top_p", 0.9}, {"seed", 7}};
  auto s1 = c.request("POST", "/v1/chat/completions", chat_body("tiny", "hi", 10, sampled));
  auto s2 = c.request("POST", "/v1/chat/completions", chat_body("tiny", "hi", 10, sampled));
  CHECK(json::parse(s1->body)["choices"] == json::parse(s2->body)["choices"]);
  r = c.request("POST", "/v1/completions",
                R"({"model":"tiny","prompt":"buy milk","max_tokens":5,"temperature":0})");
  REQUIRE(r->status == 200);
  CHECK(json::parse(r->body)["choices"][0]["text"].is_string());
  r = c.request("POST", "/v1/completions",
                R"({"model":"tiny","prompt":"buy milk","max_tokens":5,"ignore_eos":true})");
  CHECK(json::parse(r->body)["usage"]["completion_tokens"] == 5);

  // Limits and bad requests: each an OpenAI error; the server keeps going.
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("tiny", "x", 65))->status == 400);
  r = c.request("POST", "/v1/chat/completions",
                chat_body(
                    "tiny",
                    [] {
                      std::string s;
                      for (int i = 0; i < 80; ++i) s += "add a task to buy milk ";
                      return s;
                    }(),
                    64));
  CHECK(r->status == 400);
  CHECK(json::parse(r->body)["error"]["code"] == "context_length_exceeded");
  CHECK(c.request("POST", "/v1/chat/completions", std::string(70000, '{'))->status == 413);
  CHECK(c.request("POST", "/v1/chat/completions", "{oops")->status == 400);
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("nope", "x"))->status == 404);
  CHECK(c.raw("\x01\x02\x03\r\n\r\n")->status == 400);
  CHECK(c.request("POST", "/v1/feedback",
                  json{{"id", j["id"]}, {"score", -1}, {"comment", "wrong"}}.dump())
            ->status == 200);
  auto metrics = c.request("GET", "/metrics")->body;
  CHECK(metrics.find("llmops_generated_tokens_total{model=\"tiny\",version=\"v1\"}") !=
        std::string::npos);
  CHECK(metrics.find("status=\"413\"") != std::string::npos);
  CHECK(c.request("GET", "/health")->status == 200);
  CHECK(fs::file_size(tmp.path / "logs" / "requests.jsonl") > 0);
}

TEST_CASE("llmops-serve: auth from the environment, and clients over the limit wait, none refused",
          "[deployers][serve]") {
  TempDir tmp;
  ::setenv("LLMOPS_TEST_TOKEN", "tok-123", 1);
  ServeProcess p(tmp.path, {"--token-env", "LLMOPS_TEST_TOKEN", "--max-concurrency", "1",
                            "--max-tokens", "100", "--context-length", "4096"});
  ::unsetenv("LLMOPS_TEST_TOKEN");
  REQUIRE(p.port != 0);
  const auto port = static_cast<uint16_t>(p.port);
  CHECK(http_request("127.0.0.1", port, "GET", "/health")->status == 200);
  CHECK(http_request("127.0.0.1", port, "GET", "/v1/models")->status == 401);
  const Headers auth = {{"Authorization", "Bearer tok-123"}};
  CHECK(http_request("127.0.0.1", port, "GET", "/v1/models", "", auth)->status == 200);
  // The token never reaches the server's output.
  std::ifstream in(p.log);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(out.find("tok-123") == std::string::npos);

  // Many clients at once against a limit of one: they queue, and every one is answered 200
  // (the scheme of the Authorization header in any case).
  std::vector<std::future<int>> fs;
  for (int i = 0; i < 16; ++i)
    fs.push_back(std::async(std::launch::async, [&, i] {
      auto r = http_request("127.0.0.1", port, "POST", "/v1/completions",
                            R"({"model":"tiny","prompt":"go","max_tokens":100,"ignore_eos":true})",
                            {{"Authorization", i % 2 ? "Bearer tok-123" : "bearer tok-123"}});
      return r ? r->status : -1;
    }));
  int ok = 0;
  for (auto& f : fs) ok += f.get() == 200;
  CHECK(ok == 16);
  const auto metrics = http_request("127.0.0.1", port, "GET", "/metrics", "", auth)->body;
  CHECK(metrics.find("llmops_queue_wait_seconds_count{model=\"tiny\"} 16") != std::string::npos);
  CHECK(metrics.find("status=\"429\"") == std::string::npos);
}

TEST_CASE("llmops-serve --help names the queue, connection and log options", "[deployers][serve]") {
  std::string help;
  if (FILE* f = ::popen((serve_binary().string() + " --help").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) help.append(buf, n);
    CHECK(::pclose(f) == 0);
  }
  for (const char* option :
       {"--max-concurrency", "--max-queue", "--queue-timeout", "--max-connections",
        "--max-pending-per-client", "--header-timeout", "--body-timeout", "--idle-timeout",
        "--no-redact-pii", "--max-batch"}) {
    INFO(option);
    CHECK(help.find(option) != std::string::npos);
  }
}

TEST_CASE("deploy starts one server, loads new versions under load, rolls back, stops",
          "[deployers][serve]") {
  TempHome home;
  DeployRequest r;
  r.name = "tasks";
  r.model_dir = tiny_model().string();
  r.model_digest = "sha256:aaaa";
  r.version = "v1";
  r.tokenizer = bpe_tokenizer().string();
  r.serve_binary = serve_binary();
  auto first = deploy(r);
  REQUIRE(first);
  CHECK(first->started);
  const int pid = first->state["pid"];
  const auto port = static_cast<uint16_t>(first->state["port"].get<int>());
  CHECK(first->state["endpoint"] == "http://127.0.0.1:" + std::to_string(port) + "/v1");

  // Clients hammer the server while v2 and then a canary are loaded: no request fails.
  std::atomic<bool> go{true};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      HttpClient c("127.0.0.1", port);
      while (go) {
        auto res = c.request("POST", "/v1/chat/completions", chat_body("tasks", "hi", 4));
        (res && res->status == 200 ? ok : failed)++;
      }
    });
  REQUIRE(wait_until([&] { return ok > 8; }));
  r.version = "v2";
  r.model_digest = "sha256:bbbb";
  auto second = deploy(r);
  REQUIRE(second);
  CHECK_FALSE(second->started);
  CHECK(second->state["pid"] == pid);  // no second server
  const int before = ok;
  REQUIRE(wait_until([&] { return ok > before + 8; }));
  go = false;
  for (auto& t : clients) t.join();
  CHECK(failed == 0);
  auto health = json::parse(http_request("127.0.0.1", port, "GET", "/health")->body);
  CHECK(health["version"] == "v2");

  auto st = read_deployment("tasks");
  REQUIRE(st);
  CHECK((*st)["version"] == "v2");
  CHECK((*st)["history"].size() == 2);

  auto back = rollback_deployment("tasks");
  REQUIRE(back);
  CHECK(back->state["version"] == "v1");
  health = json::parse(http_request("127.0.0.1", port, "GET", "/health")->body);
  CHECK(health["version"] == "v1");

  // The CLI reads the same state files (`llmops deployments ...` runs llmops-deployments).
  const auto tool = (fs::path(LLMOPS_PLUGIN_BUILD_DIR) / "llmops-deployments").string();
  std::string listed;
  if (FILE* f = ::popen((tool + " list --json").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) listed.append(buf, n);
    CHECK(::pclose(f) == 0);
  }
  auto list = json::parse(listed, nullptr, false);
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 1);
  CHECK(list[0]["name"] == "tasks");
  CHECK(list[0]["live"] == "running");
  CHECK(std::system((tool + " stop tasks > /dev/null").c_str()) == 0);
  CHECK(wait_until([&] { return !process_alive(pid); }));
  CHECK(std::system((tool + " show nosuch 2> /dev/null").c_str()) != 0);
  CHECK((*read_deployment("tasks"))["state"] == "stopped");
}

#endif
