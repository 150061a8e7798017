// The HTTP server on a fake backend, in process: routes, auth, limits, streaming, tool calls,
// canary split, blue/green switching with a request in flight, metrics and the request log.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <future>

#include "deployer_test_util.hpp"
#include "plugins/common/http_client.hpp"

using namespace llmops::serve;
using namespace llmops::common;
using namespace dtest;

namespace {

BackendLoader fake_loader(std::shared_ptr<FakeBackend> backend) {
  return [backend](const LoadRequest&) -> llmops::Result<std::shared_ptr<Backend>> {
    return std::shared_ptr<Backend>(backend);
  };
}

ServerOptions options(const fs::path& log_dir = {}) {
  ServerOptions o;
  o.name = "fake";
  o.log.dir = log_dir;
  return o;
}

std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("chat and completions answer in OpenAI's shape", "[deployers][server]") {
  TempDir tmp;
  InProcessServer s(options(tmp.path), fake_loader(std::make_shared<FakeBackend>("hi there")));
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("POST", "/v1/chat/completions", chat_body("fake", "hello", 50));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->header("X-Model-Version") == "v1");
  auto j = json::parse(r->body);
  CHECK(j["object"] == "chat.completion");
  CHECK(j["model"] == "fake");
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  CHECK(j["choices"][0]["message"]["content"] == "hi there");
  CHECK(j["choices"][0]["finish_reason"] == "stop");
  CHECK(j["usage"]["completion_tokens"] == 9);  // 8 bytes and the stop token
  CHECK(j["usage"]["total_tokens"] == j["usage"]["prompt_tokens"].get<int>() + 9);

  r = c.request("POST", "/v1/completions", R"({"model":"fake","prompt":"Once","max_tokens":4})");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  j = json::parse(r->body);
  CHECK(j["object"] == "text_completion");
  CHECK(j["choices"][0]["text"] == "hi t");
  CHECK(j["choices"][0]["finish_reason"] == "length");

  // Stop strings cut the output and end generation.
  r = c.request("POST", "/v1/chat/completions",
                chat_body("fake", "x", 50, {{"stop", json::array({" th"})}}));
  REQUIRE(r);
  CHECK(json::parse(r->body)["choices"][0]["message"]["content"] == "hi");
  CHECK(json::parse(r->body)["choices"][0]["finish_reason"] == "stop");

  // The request log has every request with prompt, output, status and version (written just
  // after the response goes out).
  std::vector<json> log;
  REQUIRE(wait_until([&] { return (log = read_jsonl(tmp.path / "requests.jsonl")).size() == 3; }));
  CHECK(log[0]["messages"][0]["content"] == "hello");
  CHECK(log[0]["output"] == "hi there");
  CHECK(log[0]["status"] == 200);
  CHECK(log[0]["version"] == "v1");
  CHECK(log[0]["latency_ms"].is_number());
  CHECK(log[1]["prompt"] == "Once");
}

TEST_CASE("health, models, metrics and unknown routes", "[deployers][server]") {
  auto backend = std::make_shared<FakeBackend>();
  InProcessServer s(options(), fake_loader(backend), /*first_version=*/"");
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("GET", "/health");
  REQUIRE(r);
  CHECK(r->status == 503);  // nothing loaded yet
  r = c.request("POST", "/v1/chat/completions", chat_body("fake", "x"));
  REQUIRE(r);
  CHECK(r->status == 503);
  REQUIRE(s.server.load({"fake", "v7", 0, ""}).is_ok());
  r = c.request("GET", "/health");
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["version"] == "v7");
  r = c.request("GET", "/v1/models");
  REQUIRE(r->status == 200);
  CHECK(json::parse(r->body)["data"][0]["id"] == "fake");
  REQUIRE(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))->status == 200);
  r = c.request("GET", "/metrics");
  REQUIRE(r->status == 200);
  CHECK(r->header("Content-Type").find("text/plain") == 0);
  for (const char* needle :
       {"llmops_requests_total{model=\"fake\",version=\"v7\",route=\"/v1/chat/completions\","
        "status=\"200\"} 1",
        "llmops_generated_tokens_total{model=\"fake\",version=\"v7\"}",
        "llmops_prompt_tokens_total{model=\"fake\",version=\"v7\"}",
        "llmops_time_to_first_token_seconds_bucket{model=\"fake\",version=\"v7\",le=\"+Inf\"} 1",
        "llmops_request_duration_seconds_count{model=\"fake\",version=\"v7\"} 1",
        "llmops_requests_in_flight{model=\"fake\",version=\"v7\"} 0",
        "llmops_model_info{model=\"fake\",version=\"v7\"} 100"}) {
    INFO(needle);
    CHECK(r->body.find(needle) != std::string::npos);
  }
  CHECK(c.request("GET", "/nope")->status == 404);
  CHECK(c.request("GET", "/v1/chat/completions")->status == 405);
  r = c.request("POST", "/v1/chat/completions", chat_body("other", "x"));
  CHECK(r->status == 404);
  CHECK(json::parse(r->body)["error"]["code"] == "model_not_found");
}

TEST_CASE("a bearer token guards every route but /health", "[deployers][server]") {
  auto o = options();
  o.token = "s3cret";
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>()));
  HttpClient c("127.0.0.1", s.port());
  CHECK(c.request("GET", "/health")->status == 200);
  for (const char* path : {"/v1/models", "/metrics", "/admin/status"}) {
    INFO(path);
    CHECK(c.request("GET", path)->status == 401);
    CHECK(c.request("GET", path, "", {{"Authorization", "Bearer wrong!"}})->status == 401);
    CHECK(c.request("GET", path, "", {{"Authorization", "Bearer s3cret"}})->status == 200);
  }
  auto r = c.request("POST", "/v1/chat/completions", chat_body("fake", "x"));
  CHECK(r->status == 401);
  CHECK(json::parse(r->body)["error"]["code"] == "invalid_api_key");
  CHECK(r->body.find("s3cret") == std::string::npos);
}

TEST_CASE("streaming sends deltas and ends with [DONE]", "[deployers][server]") {
  InProcessServer s(options(), fake_loader(std::make_shared<FakeBackend>("abc END xyz")));
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("POST", "/v1/chat/completions",
                     chat_body("fake", "x", 50,
                               {{"stream", true},
                                {"stop", json::array({"END"})},
                                {"stream_options", {{"include_usage", true}}}}));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->header("Content-Type") == "text/event-stream");
  auto events = sse_events(r->body);
  REQUIRE(events.size() >= 4);
  CHECK(events.back() == "[DONE]");
  std::string text;
  std::string finish;
  bool usage = false;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    CHECK(j["id"] == json::parse(events[0])["id"]);
    if (j.contains("usage")) {
      usage = true;
      continue;
    }
    CHECK(j["object"] == "chat.completion.chunk");
    const auto& ch = j["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  CHECK(text == "abc ");  // nothing of the stop string leaked
  CHECK(finish == "stop");
  CHECK(usage);
}

TEST_CASE("tool calls come back in OpenAI's tool_calls shape", "[deployers][server]") {
  const std::string reply =
      "<tool_call>\n{\"name\": \"add_task\", \"arguments\": {\"title\": \"buy milk\"}}\n"
      "</tool_call>";
  InProcessServer s(options(), fake_loader(std::make_shared<FakeBackend>(reply)));
  HttpClient c("127.0.0.1", s.port());
  const json tools =
      json::array({{{"type", "function"},
                    {"function", {{"name", "add_task"}, {"parameters", {{"type", "object"}}}}}}});
  auto r = c.request("POST", "/v1/chat/completions",
                     chat_body("fake", "add milk", 200, {{"tools", tools}}));
  REQUIRE(r->status == 200);
  auto j = json::parse(r->body);
  const auto& msg = j["choices"][0]["message"];
  CHECK(j["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(msg["content"].is_null());
  REQUIRE(msg["tool_calls"].size() == 1);
  CHECK(msg["tool_calls"][0]["type"] == "function");
  CHECK(msg["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0) == 0);
  CHECK(msg["tool_calls"][0]["function"]["name"] == "add_task");
  CHECK(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()) ==
        json{{"title", "buy milk"}});

  // Streamed: no raw <tool_call> text, one tool_calls delta.
  r = c.request("POST", "/v1/chat/completions",
                chat_body("fake", "add milk", 200, {{"tools", tools}, {"stream", true}}));
  REQUIRE(r->status == 200);
  CHECK(r->body.find("<tool_call>") == std::string::npos);
  int calls = 0;
  for (const auto& e : sse_events(r->body)) {
    if (e == "[DONE]") continue;
    auto d = json::parse(e)["choices"][0]["delta"];
    if (d.contains("tool_calls")) {
      ++calls;
      CHECK(d["tool_calls"][0]["index"] == 0);
      CHECK(d["tool_calls"][0]["function"]["name"] == "add_task");
    }
  }
  CHECK(calls == 1);
}

TEST_CASE("limits: 429 when the queue is full, 413, max_tokens", "[deployers][server]") {
  auto backend = std::make_shared<FakeBackend>("slow", /*gate=*/true);
  auto o = options();
  o.max_concurrency = 1;
  o.max_queue = 0;  // no waiting room: the old behaviour, 429 at once
  o.max_body_bytes = 4096;
  InProcessServer s(o, fake_loader(backend));
  auto first = std::async(std::launch::async, [&] {
    return http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "x"));
  });
  REQUIRE(wait_until([&] { return backend->waiting() == 1; }));
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("POST", "/v1/chat/completions", chat_body("fake", "y"));
  REQUIRE(r);
  CHECK(r->status == 429);
  CHECK(json::parse(r->body)["error"]["code"] == "rate_limit_exceeded");
  CHECK(std::stoi(r->header("Retry-After")) >= 1);
  backend->release();
  auto done = first.get();
  REQUIRE(done);
  CHECK(done->status == 200);
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "y"))->status == 200);

  // 413: a body over the limit; the server stays up.
  r = c.request("POST", "/v1/chat/completions", chat_body("fake", std::string(10000, 'a')));
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(c.request("GET", "/health")->status == 200);

  // Max tokens above the cap.
  r = c.request("POST", "/v1/chat/completions", chat_body("fake", "x", 100000));
  CHECK(r->status == 400);
}

TEST_CASE("a request past the timeout gets 504, and context length is enforced",
          "[deployers][server]") {
  auto backend = std::make_shared<FakeBackend>(std::string(200, 'z'));
  backend->delay_ms_ = 5;
  auto o = options();
  o.timeout_s = 0.2;
  InProcessServer s(o, fake_loader(backend));
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("POST", "/v1/chat/completions", chat_body("fake", "x", 300));
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK(json::parse(r->body)["error"]["code"] == "timeout");
  // FakeBackend's context is 4096 bytes.
  r = c.request("POST", "/v1/chat/completions", chat_body("fake", std::string(4000, 'a'), 200));
  CHECK(r->status == 400);
  CHECK(json::parse(r->body)["error"]["code"] == "context_length_exceeded");
}

TEST_CASE("malformed requests get 4xx and the server keeps serving", "[deployers][server]") {
  InProcessServer s(options(), fake_loader(std::make_shared<FakeBackend>()));
  HttpClient c("127.0.0.1", s.port());
  for (const char* body : {"", "{", "null", "[]", "{\"model\":1}", "\xff\xfe"}) {
    auto r = c.request("POST", "/v1/chat/completions", body);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body).contains("error"));
  }
  auto r = c.raw("GARBAGE\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  r = c.raw("POST /v1/completions HTTP/1.1\r\nContent-Length: zz\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))->status == 200);
}

TEST_CASE("a canary gets its share, and a switch lets in-flight requests finish",
          "[deployers][server]") {
  auto v1 = std::make_shared<FakeBackend>("one", /*gate=*/true);
  auto v2 = std::make_shared<FakeBackend>("two");
  BackendLoader loader = [&](const LoadRequest& r) -> llmops::Result<std::shared_ptr<Backend>> {
    if (r.model_dir == "bad") return llmops::Status::invalid("no such model");
    return std::shared_ptr<Backend>(r.version == "v1" ? std::static_pointer_cast<Backend>(v1)
                                                      : std::static_pointer_cast<Backend>(v2));
  };
  InProcessServer s(options(), loader);
  HttpClient c("127.0.0.1", s.port());
  // A request in flight on v1 while v2 takes over.
  auto inflight = std::async(std::launch::async, [&] {
    return http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "x"));
  });
  REQUIRE(wait_until([&] { return v1->waiting() == 1; }));
  auto r = c.request("POST", "/admin/load", R"({"model_dir":"m2","version":"v2"})");
  REQUIRE(r->status == 200);
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))
            ->header("X-Model-Version") == "v2");
  v1->release();
  auto old = inflight.get();
  REQUIRE(old);
  CHECK(old->status == 200);
  CHECK(old->header("X-Model-Version") == "v1");
  CHECK(json::parse(old->body)["choices"][0]["message"]["content"] == "one");

  // Canary: v1 back as a 25% canary of v2.
  r = c.request("POST", "/admin/load", R"({"model_dir":"m1","version":"v1","canary_percent":25})");
  REQUIRE(r->status == 200);
  int on_v1 = 0;
  for (int i = 0; i < 40; ++i)
    on_v1 += c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))
                 ->header("X-Model-Version") == "v1";
  CHECK(on_v1 == 10);
  auto status = json::parse(c.request("GET", "/admin/status")->body);
  CHECK(status["shares"]["v1"] == 25);
  CHECK(status["shares"]["v2"] == 75);
  REQUIRE(c.request("POST", "/admin/promote")->status == 200);
  CHECK(json::parse(c.request("GET", "/health")->body)["version"] == "v1");
  // A failed load changes nothing.
  r = c.request("POST", "/admin/load", R"({"model_dir":"bad","version":"v3"})");
  CHECK(r->status == 400);
  CHECK(json::parse(c.request("GET", "/health")->body)["version"] == "v1");
}

TEST_CASE("feedback is logged, PII is redacted, the log rotates", "[deployers][server]") {
  TempDir tmp;
  auto o = options(tmp.path);
  o.log.redact_pii = true;
  o.log.max_bytes = 2000;
  o.log.keep = 2;
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>("mail bob@example.com")));
  HttpClient c("127.0.0.1", s.port());
  auto r = c.request("POST", "/v1/chat/completions",
                     chat_body("fake", "I am alice@example.com, call +1 415 555 0100", 50));
  REQUIRE(r->status == 200);
  const auto id = json::parse(r->body)["id"].get<std::string>();
  r = c.request("POST", "/v1/feedback",
                json{{"id", id}, {"score", 1}, {"comment", "thanks, carol@example.com"}}.dump());
  REQUIRE(r->status == 200);
  CHECK(c.request("POST", "/v1/feedback", R"({"score":1})")->status == 400);
  std::vector<json> log;
  REQUIRE(wait_until([&] { return (log = read_jsonl(tmp.path / "requests.jsonl")).size() == 2; }));
  const auto text = log[0].dump() + log[1].dump();
  CHECK(text.find("@example.com") == std::string::npos);
  CHECK(text.find("<EMAIL>") != std::string::npos);
  CHECK(log[1]["type"] == "feedback");
  CHECK(log[1]["id"] == id);
  CHECK(log[1]["feedback"]["score"] == 1);
  for (int i = 0; i < 20; ++i)
    REQUIRE(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"))->status == 200);
  CHECK(fs::exists(tmp.path / "requests.jsonl.1"));
  CHECK(fs::exists(tmp.path / "requests.jsonl.2"));
  CHECK_FALSE(fs::exists(tmp.path / "requests.jsonl.3"));
  CHECK(fs::file_size(tmp.path / "requests.jsonl") <= 2000);
}

TEST_CASE("the Authorization scheme is case-insensitive", "[deployers][server][auth]") {
  auto o = options();
  o.token = "s3cret";
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>()));
  HttpClient c("127.0.0.1", s.port());
  for (const char* good :
       {"Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR   s3cret", " Bearer s3cret "}) {
    INFO(good);
    CHECK(c.request("GET", "/v1/models", "", {{"Authorization", good}})->status == 200);
  }
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", "x"),
                  {{"Authorization", "bearer s3cret"}})
            ->status == 200);
  for (const char* bad : {"Basic s3cret", "Bearers3cret", "Bearer", "Bearer ", "Bearer s3cre",
                          "Bearer s3cret2", "Bearer s3cret x", "s3cret", "Token s3cret"}) {
    INFO(bad);
    auto r = c.request("GET", "/v1/models", "", {{"Authorization", bad}});
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->header("WWW-Authenticate") == "Bearer");
  }
}

TEST_CASE("metrics label values come from a fixed set, whatever paths clients send",
          "[deployers][server][metrics]") {
  auto o = options();
  o.token = "s3cret";
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>()));
  HttpClient c("127.0.0.1", s.port());
  const Headers auth = {{"Authorization", "Bearer s3cret"}};
  const auto before = c.request("GET", "/metrics", "", auth)->body;
  // Unauthenticated requests to unique paths (401), authenticated ones to unknown paths (404),
  // wrong methods and odd bytes in the target.
  for (int i = 0; i < 1000; ++i) {
    const std::string path = "/probe-" + std::to_string(i) + "?q=" + std::to_string(i);
    REQUIRE(c.request(i % 2 ? "GET" : "POST", path)->status == 401);
  }
  for (int i = 0; i < 100; ++i)
    REQUIRE(c.request("GET", "/v1/unknown-" + std::to_string(i), "", auth)->status == 404);
  REQUIRE(c.request("GET", "/v1/chat/completions/x", "", auth)->status == 404);
  const auto after = c.request("GET", "/metrics", "", auth)->body;
  INFO(after);
  CHECK(after.find("probe-") == std::string::npos);
  CHECK(after.find("unknown-") == std::string::npos);
  CHECK(after.find("route=\"other\",status=\"401\"} 1000") != std::string::npos);
  CHECK(after.find("route=\"other\",status=\"404\"} 101") != std::string::npos);
  // Two series more than before (other/401 and other/404), not a thousand.
  CHECK(after.size() < before.size() + 400);
  for (size_t pos = 0; (pos = after.find("route=\"", pos)) != std::string::npos; ++pos) {
    const auto end = after.find('"', pos + 7);
    const auto route = after.substr(pos + 7, end - pos - 7);
    INFO(route);
    CHECK((route == "other" || std::find(Metrics::kRoutes.begin(), Metrics::kRoutes.end(), route) !=
                                   Metrics::kRoutes.end()));
  }
}

TEST_CASE("the request log redacts PII in every free-text field by default",
          "[deployers][server][log]") {
  TempDir tmp;
  // Default options: nothing asks for redaction.
  InProcessServer s(options(tmp.path),
                    fake_loader(std::make_shared<FakeBackend>("mail bob@example.com")));
  HttpClient c("127.0.0.1", s.port());
  const json messages = json::array(
      {{{"role", "system"}, {"content", "You help alice@example.com"}},
       {{"role", "user"},
        {"content", json::array({{{"type", "text"}, {"text", "call me at +1 415 555 0100"}}})}},
       {{"role", "assistant"},
        {"content", nullptr},
        {"tool_calls",
         json::array({{{"id", "c1"},
                       {"type", "function"},
                       {"function",
                        {{"name", "send"}, {"arguments", R"({"to":"carol@example.com"})"}}}}})}},
       {{"role", "tool"}, {"content", "sent to carol@example.com from 10.1.2.3"}},
       {{"role", "user"}, {"content", "thanks"}}});
  const json tools = json::array({{{"type", "function"},
                                   {"function",
                                    {{"name", "send"},
                                     {"description", "mails dave@example.com"},
                                     {"parameters", json::object()}}}}});
  auto r = c.request("POST", "/v1/chat/completions",
                     json{{"model", "fake"},
                          {"messages", messages},
                          {"tools", tools},
                          {"user", "erin@example.com"},
                          {"max_tokens", 50}}
                         .dump());
  REQUIRE(r->status == 200);
  const auto id = json::parse(r->body)["id"].get<std::string>();
  REQUIRE(
      c.request("POST", "/v1/completions",
                R"({"model":"fake","prompt":"I am frank@example.com","user":"gina@example.com"})")
          ->status == 200);
  REQUIRE(c.request("POST", "/v1/feedback",
                    json{{"id", id}, {"score", 0}, {"comment", "ask hank@example.com"}}.dump())
              ->status == 200);
  std::vector<json> log;
  REQUIRE(wait_until([&] { return (log = read_jsonl(tmp.path / "requests.jsonl")).size() == 3; }));
  std::string text;
  for (const auto& l : log) text += l.dump() + "\n";
  INFO(text);
  CHECK(text.find("@example.com") == std::string::npos);
  CHECK(text.find("555 0100") == std::string::npos);
  CHECK(text.find("10.1.2.3") == std::string::npos);
  CHECK(log[0]["user"] == "<EMAIL>");
  CHECK(log[0]["messages"][4]["content"] == "thanks");
  CHECK(log[0]["output"] == "mail <EMAIL>");
  CHECK(log[1]["prompt"] == "I am <EMAIL>");
  CHECK(log[1]["user"] == "<EMAIL>");
  // What ties feedback to its request stays as it was.
  CHECK(log[2]["id"] == id);
  CHECK(log[2]["feedback"]["id"] == id);
  CHECK(log[2]["feedback"]["score"] == 0);
}

TEST_CASE("redaction can be turned off for the request log", "[deployers][server][log]") {
  TempDir tmp;
  auto o = options(tmp.path);
  o.log.redact_pii = false;  // llmops-serve --no-redact-pii
  InProcessServer s(o, fake_loader(std::make_shared<FakeBackend>("ok")));
  HttpClient c("127.0.0.1", s.port());
  REQUIRE(c.request("POST", "/v1/chat/completions",
                    chat_body("fake", "I am alice@example.com", 8, {{"user", "erin@example.com"}}))
              ->status == 200);
  std::vector<json> log;
  REQUIRE(wait_until([&] { return (log = read_jsonl(tmp.path / "requests.jsonl")).size() == 1; }));
  CHECK(log[0]["messages"][0]["content"] == "I am alice@example.com");
  CHECK(log[0]["user"] == "erin@example.com");
}

TEST_CASE("requests turned away are logged as one short line without their text",
          "[deployers][server][log]") {
  TempDir tmp;
  auto backend = std::make_shared<FakeBackend>("ok", /*gate=*/true);
  auto o = options(tmp.path);
  o.max_concurrency = 1;
  o.max_queue = 0;
  o.max_body_bytes = 8192;
  o.log.redact_pii = false;  // even verbatim logging keeps rejected bodies out
  InProcessServer s(o, fake_loader(backend));
  auto first = std::async(std::launch::async, [&] {
    return http_request("127.0.0.1", s.port(), "POST", "/v1/chat/completions",
                        chat_body("fake", "first"));
  });
  REQUIRE(wait_until([&] { return backend->waiting() == 1; }));
  const std::string secret = "SECRET-" + std::string(2000, 'x');
  HttpClient c("127.0.0.1", s.port());
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("fake", secret, 8, {{"user", "u1"}}))
            ->status == 429);
  CHECK(c.request("POST", "/v1/completions", json{{"model", "fake"}, {"prompt", secret}}.dump())
            ->status == 429);
  CHECK(
      c.request("POST", "/v1/chat/completions", chat_body("fake", secret, 8, {{"temperature", 3}}))
          ->status == 400);
  CHECK(c.request("POST", "/v1/chat/completions", chat_body("other-model", secret))->status == 404);
  CHECK(c.request("POST", "/v1/chat/completions",
                  chat_body("fake", secret + secret + secret + secret + secret))
            ->status == 413);
  backend->release();
  REQUIRE(first.get()->status == 200);
  std::vector<json> log;
  REQUIRE(wait_until([&] { return (log = read_jsonl(tmp.path / "requests.jsonl")).size() == 6; }));
  int rejected = 0;
  for (const auto& l : log) {
    const auto line = l.dump();
    INFO(line);
    CHECK(line.find("SECRET") == std::string::npos);
    if (!l.value("rejected", false)) continue;
    ++rejected;
    CHECK(line.size() < 400);
    CHECK(l["type"] == "completion");
    CHECK_FALSE(l.contains("messages"));
    CHECK_FALSE(l.contains("prompt"));
    CHECK_FALSE(l.contains("user"));
    CHECK(l["body_bytes"].get<int64_t>() > 2000);
    if (l["status"] == 429) {
      CHECK(l["code"] == "rate_limit_exceeded");
      CHECK(l["prompt_bytes"] == secret.size());
    }
  }
  CHECK(rejected == 5);
}
