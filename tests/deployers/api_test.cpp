// Request parsing and validation of the model server (plugins/deployers/serve/api.hpp).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api.hpp"

using namespace llmops::serve;
using nlohmann::json;

namespace {
const RequestLimits kLimits{};
}

TEST_CASE("a full chat request parses into its fields", "[deployers][api]") {
  const auto p = parse_chat_request(R"({
    "model": "m", "messages": [{"role": "system", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "temperature": 0.5, "top_p": 0.9, "max_tokens": 7, "stop": ["\n\n", "END"], "seed": 42,
    "stream": true, "stream_options": {"include_usage": true}, "user": "u1",
    "tools": [{"type": "function", "function": {"name": "add_task", "description": "Add",
               "parameters": {"type": "object"}}}], "tool_choice": "auto",
    "presence_penalty": 0})",
                                    kLimits);
  REQUIRE_FALSE(p.error);
  const auto& r = p.request;
  CHECK(r.model == "m");
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[1].content == "hi");
  CHECK(r.temperature == 0.5);
  CHECK(r.top_p == 0.9);
  CHECK(r.max_tokens == 7);
  CHECK(r.stop == std::vector<std::string>{"\n\n", "END"});
  CHECK(r.seed == 42u);
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.user == "u1");
  REQUIRE(r.tools.size() == 1);
  CHECK(r.tools[0].name == "add_task");
  CHECK(r.tools_active());
}

TEST_CASE("defaults: max_tokens from the limits, temperature 1, no stream", "[deployers][api]") {
  const auto p =
      parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", kLimits);
  REQUIRE_FALSE(p.error);
  CHECK(p.request.max_tokens == kLimits.default_max_tokens);
  CHECK(p.request.temperature == 1.0);
  CHECK_FALSE(p.request.stream);
  CHECK_FALSE(p.request.seed);
}

TEST_CASE("bad chat requests give OpenAI errors naming the parameter", "[deployers][api]") {
  struct Case {
    const char* body;
    const char* param;
    const char* code;
  };
  const Case cases[] = {
      {"{not json", "", "invalid_json"},
      {"[1,2]", "", ""},
      {R"({"messages":[{"role":"user","content":"x"}]})", "model", ""},
      {R"({"model":"m"})", "messages", ""},
      {R"({"model":"m","messages":[]})", "messages", ""},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages", ""},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages", ""},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature",
       ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
       "temperature", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens",
       ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens",
       ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100000})",
       "max_tokens", "max_tokens_exceeded"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})", "n", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})",
       "stop", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":"s"})", "seed", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}})", "tools", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
       "tools", ""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"maybe"})",
       "tool_choice", ""},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    const auto p = parse_chat_request(c.body, kLimits);
    REQUIRE(p.error);
    CHECK(p.error->status == 400);
    CHECK(p.error->param == c.param);
    CHECK(p.error->code == c.code);
    const auto j = json::parse(error_body(*p.error));
    CHECK(j["error"]["type"] == "invalid_request_error");
    CHECK(j["error"]["message"].is_string());
  }
}

TEST_CASE("completion requests take a prompt string or a one-string array", "[deployers][api]") {
  auto p = parse_completion_request(R"({"model":"m","prompt":"Once"})", kLimits);
  REQUIRE_FALSE(p.error);
  CHECK(p.request.prompt == "Once");
  CHECK_FALSE(p.request.chat);
  p = parse_completion_request(R"({"model":"m","prompt":["Once"],"max_tokens":3})", kLimits);
  REQUIRE_FALSE(p.error);
  CHECK(p.request.max_tokens == 3);
  for (const char* bad : {R"({"model":"m"})", R"({"model":"m","prompt":""})",
                          R"({"model":"m","prompt":["a","b"]})", R"({"model":"m","prompt":[1]})"}) {
    INFO(bad);
    CHECK(parse_completion_request(bad, kLimits).error);
  }
}

TEST_CASE("assistant tool calls in the history parse both argument forms", "[deployers][api]") {
  const auto p = parse_chat_request(R"({"model":"m","messages":[
    {"role":"user","content":"add milk"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"c1","type":"function","function":{"name":"add","arguments":"{\"x\": 1}"}},
      {"id":"c2","type":"function","function":{"name":"add","arguments":{"x": 2}}}]},
    {"role":"tool","content":"ok"}]})",
                                    kLimits);
  REQUIRE_FALSE(p.error);
  REQUIRE(p.request.messages[1].tool_calls.size() == 2);
  CHECK(p.request.messages[1].tool_calls[0].arguments_json == R"({"x": 1})");
  CHECK(json::parse(p.request.messages[1].tool_calls[1].arguments_json) == json{{"x", 2}});
}

TEST_CASE("tool calls the model writes come back as OpenAI tool calls", "[deployers][api]") {
  auto out = parse_tool_calls(
      "Sure.\n<tool_call>\n{\"name\": \"add_task\", \"arguments\": {\"title\": \"milk\"}}\n"
      "</tool_call>");
  CHECK(out.content == "Sure.");
  REQUIRE(out.tool_calls.size() == 1);
  CHECK(out.tool_calls[0].name == "add_task");
  CHECK(json::parse(out.tool_calls[0].arguments_json) == json{{"title", "milk"}});

  // Two calls, no content; a call cut off before its closing tag still counts when it parses.
  out = parse_tool_calls(
      "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": "
      "\"b\", \"arguments\": {\"k\": [1]}}");
  CHECK(out.content.empty());
  REQUIRE(out.tool_calls.size() == 2);
  CHECK(out.tool_calls[1].name == "b");

  // Not JSON: stays content.
  out = parse_tool_calls("<tool_call>oops</tool_call>");
  CHECK(out.tool_calls.empty());
  CHECK(out.content == "<tool_call>oops</tool_call>");
}

TEST_CASE("the tools prompt joins the system message or becomes one", "[deployers][api]") {
  std::vector<ToolSpec> tools{{"add_task", "Adds a task", R"({"type":"object"})"}};
  std::vector<llmops::lm::ChatMessage> msgs{{"user", "hi", {}}};
  auto with = with_tools_prompt(msgs, tools);
  REQUIRE(with.size() == 2);
  CHECK(with[0].role == "system");
  CHECK(with[0].content.find("<tools>") != std::string::npos);
  CHECK(with[0].content.find("\"add_task\"") != std::string::npos);
  msgs.insert(msgs.begin(), {"system", "be brief", {}});
  with = with_tools_prompt(msgs, tools);
  REQUIRE(with.size() == 2);
  CHECK(with[0].content.rfind("be brief", 0) == 0);
}

TEST_CASE("streaming holds back partial stop strings and partial characters", "[deployers][api]") {
  const std::vector<std::string> holds{"END", "<tool_call>"};
  CHECK(safe_stream_length("hello", holds) == 5);
  CHECK(safe_stream_length("hello E", holds) == 6);
  CHECK(safe_stream_length("hello EN", holds) == 6);
  CHECK(safe_stream_length("hello <tool", holds) == 6);
  CHECK(safe_stream_length("a <tool_call>{", holds) == 2);
  CHECK(safe_stream_length("caf\xC3", holds) == 3);
  CHECK(safe_stream_length("caf\xC3\xA9", holds) == 5);
  CHECK(safe_stream_length("x\xEF\xBF\xBD", holds) == 1);
  CHECK(find_stop("abcENDdef", {"def", "END"}) == 3);
  CHECK(find_stop("abc", {"x"}) == std::string::npos);
}

TEST_CASE("feedback and admin load bodies are validated", "[deployers][api]") {
  CHECK_FALSE(parse_feedback_request(R"({"id":"chatcmpl-1","score":1,"comment":"good"})").error);
  CHECK(parse_feedback_request(R"({"score":1})").error);
  CHECK(parse_feedback_request(R"({"id":"x","score":"high"})").error);
  auto l = parse_load_request(R"({"model_dir":"/m","version":"v2","canary_percent":10})");
  REQUIRE_FALSE(l.error);
  CHECK(l.load.canary_percent == 10);
  CHECK(parse_load_request(R"({"model_dir":"/m"})").error);
  CHECK(parse_load_request(R"({"model_dir":"/m","version":"v","canary_percent":101})").error);
  CHECK(parse_load_request(R"({"version":"v"})").error);
}

TEST_CASE("nesting is bounded before parsing: deep bodies get 400, not a crash",
          "[deployers][api]") {
  // Deep enough that the JSON library's recursive dump and copy would overflow a thread's stack.
  const int deep = 300000;
  const std::string nest = std::string(deep, '[') + std::string(deep, ']');
  const std::string bodies[] = {
      R"({"id":"chatcmpl-1","score":1,"extra":)" + nest + "}",
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",)"
      R"("function":{"name":"f","parameters":{"a":)" +
          nest + "}}}]}",
      R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f",)"
      R"("arguments":)" +
          nest + "}}]}]}",
      nest,
  };
  for (const auto& body : bodies) {
    const auto chat = parse_chat_request(body, kLimits);
    REQUIRE(chat.error);
    CHECK(chat.error->status == 400);
    CHECK(chat.error->code == "json_too_deep");
    const auto feedback = parse_feedback_request(body);
    REQUIRE(feedback.error);
    CHECK(feedback.error->code == "json_too_deep");
    CHECK(parse_load_request(body).error);
    CHECK(parse_completion_request(body, kLimits).error);
  }
  // At the limit it parses; brackets inside strings do not count.
  RequestLimits l;
  l.max_json_depth = 4;
  CHECK_FALSE(
      parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"[[[[[[{{{{"}]})", l)
          .error);
  CHECK(parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":[[[1]]]}]})", l)
            .error->code == "json_too_deep");
  CHECK(json_depth(R"({"a":"[[[\"[[[","b":[{}]})", 100) == 3);
  CHECK(json_depth("[[[[[[[[", 3) == 4);  // stops counting past the limit
}

TEST_CASE("tools, stop strings and names are bounded", "[deployers][api]") {
  json tools = json::array();
  for (size_t i = 0; i <= kLimits.max_tools; ++i)
    tools.push_back({{"type", "function"}, {"function", {{"name", "f" + std::to_string(i)}}}});
  const json base = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
  auto with = [&](const json& extra) {
    json j = base;
    j.update(extra);
    return parse_chat_request(j.dump(), kLimits);
  };
  CHECK(with({{"tools", tools}}).error->param == "tools");
  tools.erase(tools.end() - 1);
  CHECK_FALSE(with({{"tools", tools}}).error);
  CHECK(with({{"tools", json::array({{{"type", "function"},
                                      {"function", {{"name", std::string(300, 'n')}}}}})}})
            .error->param == "tools");
  CHECK(with({{"stop", std::string(kLimits.max_stop_bytes + 1, 's')}}).error->param == "stop");
  CHECK_FALSE(with({{"stop", std::string(kLimits.max_stop_bytes, 's')}}).error);
  CHECK(with({{"model", std::string(kLimits.max_name_bytes + 1, 'm')}}).error->param == "model");
  json many = base;
  for (size_t i = 0; i < kLimits.max_messages; ++i)
    many["messages"].push_back({{"role", "user"}, {"content", "x"}});
  CHECK(parse_chat_request(many.dump(), kLimits).error->param == "messages");
}

TEST_CASE("bearer credentials: the scheme in any case, then the token", "[deployers][api]") {
  CHECK(bearer_token("Bearer abc") == "abc");
  CHECK(bearer_token("bearer abc") == "abc");
  CHECK(bearer_token("BEARER abc") == "abc");
  CHECK(bearer_token("  bEaReR \t abc  ") == "abc");
  CHECK(bearer_token("Bearer a.b-c_d~e+f/g=") == "a.b-c_d~e+f/g=");
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearerabc", "Basic abc", "abc",
                          "Bearer abc def", "Bear abc", "Bearer\xff abc"}) {
    INFO(bad);
    CHECK_FALSE(bearer_token(bad));
  }
}
