// POST /v1/chat/completions and /v1/completions: validation, limits, generation with streaming,
// stop strings, tool calls, metrics and the request log.
#include <algorithm>
#include <random>

#include "server_impl.hpp"

namespace llmops::serve {

using nlohmann::json;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

json tool_calls_json(const std::vector<lm::ToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", random_id("call_")},
              {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments_json}}}};
    if (with_index) c["index"] = i;
    out.push_back(std::move(c));
  }
  return out;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A generation slot (Admission), with the in-flight gauge. Freed as soon as generation ends
// (before the response is written), so a client that sends its next request on receiving the
// answer never meets its own previous request's slot.
struct Slot {
  Admission& admission;
  Metrics& m;
  std::string v;
  Clock::time_point since = Clock::now();
  bool held = true;
  void release() {
    if (!held) return;
    held = false;
    admission.release(std::chrono::duration<double>(Clock::now() - since).count());
    m.in_flight(v, -1);
  }
  ~Slot() { release(); }
};

// What the request log keeps of a request turned away: its sizes, never its text.
void add_sizes(json& line, const CompletionRequest& req, bool chat) {
  size_t bytes = 0;
  if (chat) {
    for (const auto& m : req.messages) {
      bytes += m.content.size();
      for (const auto& c : m.tool_calls) bytes += c.name.size() + c.arguments_json.size();
    }
    line["n_messages"] = req.messages.size();
  } else {
    bytes = req.prompt.size();
  }
  line["prompt_bytes"] = bytes;
  line["max_tokens"] = req.max_tokens;
}

}  // namespace

void Server::Impl::handle_generation(Exchange& ex, bool chat) {
  const auto t0 = Clock::now();
  const std::string route = chat ? "/v1/chat/completions" : "/v1/completions";
  const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
  const std::string& body = ex.request().body();
  json record = {{"type", "completion"}, {"time", unix_time()}, {"id", id}, {"route", route}};
  std::string version = label();
  auto finish = [&](int status) {
    record["status"] = status;
    record["version"] = version;
    record["latency_ms"] = since(t0) * 1000;
    metrics.request(version, route, status);
    log.append(std::move(record));
  };
  auto fail = [&](const ApiError& e) {
    ex.send_error(e);
    record["error"] = e.message;
    finish(e.status);
  };

  auto parsed =
      chat ? parse_chat_request(body, opt.limits) : parse_completion_request(body, opt.limits);
  const auto& req = parsed.request;
  // Turned away before generating (bad request, unknown model, loading, queue full or waited too
  // long, prompt too long): one short line in the log, with sizes and the reason, not the text.
  auto reject = [&](const ApiError& e,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    ex.send(e.status, error_body(e), "application/json", headers);
    json line = {{"type", "completion"},
                 {"time", record["time"]},
                 {"id", id},
                 {"route", route},
                 {"status", e.status},
                 {"version", version},
                 {"rejected", true},
                 {"code", e.code.empty() ? e.type : e.code},
                 {"body_bytes", body.size()},
                 {"latency_ms", since(t0) * 1000}};
    if (!e.param.empty()) line["param"] = e.param;
    // The reason, short: some messages quote what the client sent (a role, a model name).
    if (e.code.empty() || e.status == 400) line["error"] = e.message.substr(0, 160);
    if (!parsed.error) add_sizes(line, req, chat);
    if (record.contains("queue_ms")) line["queue_ms"] = record["queue_ms"];
    if (record.contains("prompt_tokens")) line["prompt_tokens"] = record["prompt_tokens"];
    metrics.request(version, route, e.status);
    log.append(std::move(line));
  };
  auto retry_after = [&] {
    return std::vector<std::pair<std::string, std::string>>{
        {"Retry-After", std::to_string(admission.retry_after_s())}};
  };

  if (parsed.error) return reject(*parsed.error);
  if (req.model != opt.name)
    return reject(ApiError{
        404,
        "The model '" + req.model + "' does not exist (this server serves '" + opt.name + "').",
        "invalid_request_error", "model", "model_not_found"});
  if (version == "none")
    return reject(ApiError{503, "The model is still loading.", "server_error", "", "loading"},
                  {{"Retry-After", "1"}});

  // Wait for a generation slot: first come, first served, bounded in number and in time.
  switch (admission.acquire(t0 + seconds(opt.queue_timeout_s))) {
    case Admission::Outcome::kAdmitted:
      break;
    case Admission::Outcome::kQueueFull:
      metrics.rejected(Metrics::Rejected::kQueueFull);
      return reject(
          ApiError{429,
                   "The server is busy: " + std::to_string(admission.slots()) +
                       " requests generating and " + std::to_string(admission.capacity()) +
                       " waiting (its queue is full); retry shortly.",
                   "rate_limit_error", "", "rate_limit_exceeded"},
          retry_after());
    case Admission::Outcome::kTimedOut:
      metrics.rejected(Metrics::Rejected::kQueueTimeout);
      record["queue_ms"] = since(t0) * 1000;
      return reject(ApiError{503,
                             "The request waited " + json(opt.queue_timeout_s).dump() +
                                 " s for a generation slot without getting one; retry shortly.",
                             "server_error", "", "queue_timeout"},
                    retry_after());
    case Admission::Outcome::kStopping:
      return reject(
          ApiError{503, "The server is shutting down.", "server_error", "", "shutting_down"},
          {{"Retry-After", "1"}});
  }
  const auto admitted = Clock::now();
  metrics.queue_wait(since(t0));
  record["queue_ms"] = since(t0) * 1000;
  auto v = pick();
  if (!v) {
    admission.release(0);
    return reject(ApiError{503, "The model is still loading.", "server_error", "", "loading"},
                  {{"Retry-After", "1"}});
  }
  version = v->name;
  metrics.in_flight(version, +1);
  Slot slot{admission, metrics, version};

  const Backend& be = *v->backend;
  const std::string prompt_text =
      chat ? be.render_chat(req.tools_active() ? with_tools_prompt(req.messages, req.tools)
                                               : req.messages)
           : req.prompt;
  const auto prompt = be.encode(prompt_text);
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  record["prompt_tokens"] = n_prompt;
  if (prompt.empty())
    return reject(ApiError{400, "The prompt encodes to no tokens.", "invalid_request_error",
                           chat ? "messages" : "prompt"});
  if (n_prompt + req.max_tokens > be.context_length())
    return reject(ApiError{
        400,
        "This model's maximum context length is " + std::to_string(be.context_length()) +
            " tokens. However, you requested " + std::to_string(n_prompt + req.max_tokens) +
            " tokens (" + std::to_string(n_prompt) + " in the prompt, " +
            std::to_string(req.max_tokens) + " for the completion).",
        "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded"});

  // It generates: the log keeps the request (its text redacted unless --no-redact-pii).
  record["model"] = req.model;
  if (chat) {
    json msgs = json::array();
    for (const auto& m : req.messages) {
      json jm = {{"role", m.role}, {"content", m.content}};
      if (!m.tool_calls.empty()) jm["tool_calls"] = tool_calls_json(m.tool_calls, false);
      msgs.push_back(std::move(jm));
    }
    record["messages"] = std::move(msgs);
    if (!req.tools.empty()) {
      json names = json::array();
      for (const auto& t : req.tools) names.push_back(t.name);
      record["tools"] = std::move(names);
    }
  } else {
    record["prompt"] = req.prompt;
  }
  if (!req.user.empty()) record["user"] = req.user;

  const std::vector<int64_t> stop_ids = req.ignore_eos ? std::vector<int64_t>{} : be.stop_ids(chat);
  std::vector<std::string> holds = req.stop;
  if (req.tools_active()) holds.emplace_back(kToolCallOpen);
  const auto deadline = admitted + seconds(opt.timeout_s);
  const json base = {{"id", id},
                     {"object", chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", unix_time()},
                     {"model", opt.name},
                     {"system_fingerprint", version}};
  auto chunk = [&](const json& choice) {
    json c = base;
    c["choices"] = json::array({choice});
    return dump(c);
  };
  auto delta_choice = [&](json delta, json finish_reason = nullptr) {
    if (chat)
      return json{{"index", 0},
                  {"delta", std::move(delta)},
                  {"finish_reason", finish_reason},
                  {"logprobs", nullptr}};
    return json{{"index", 0},
                {"text", delta.value("content", std::string())},
                {"finish_reason", finish_reason},
                {"logprobs", nullptr}};
  };
  const std::vector<std::pair<std::string, std::string>> headers = {{"X-Model-Version", version},
                                                                    {"X-Request-Id", id}};
  if (req.stream) {
    if (!ex.start_stream(headers)) {
      record["error"] = "client went away";
      return finish(499);
    }
    if (chat) ex.event(chunk(delta_choice(json{{"role", "assistant"}, {"content", ""}})));
  }

  std::vector<int64_t> gen;  // without stop tokens
  int64_t n_generated = 0;
  size_t emitted = 0;
  bool stop_hit = false, timed_out = false, client_gone = false;
  double ttft = -1;
  lm::GenerationOptions go;
  go.max_new_tokens = req.max_tokens;
  go.temperature = req.temperature;
  go.top_p = req.top_p;
  go.seed = req.seed ? *req.seed : std::random_device{}();
  go.stop_tokens = stop_ids;
  go.on_token = [&](int64_t tok) {
    if (ttft < 0) ttft = since(t0);
    ++n_generated;
    if (std::find(stop_ids.begin(), stop_ids.end(), tok) != stop_ids.end()) {
      stop_hit = true;
      return false;
    }
    gen.push_back(tok);
    if (Clock::now() > deadline) {
      timed_out = true;
      return false;
    }
    if (!req.stream && req.stop.empty()) return true;
    const std::string text = be.decode(gen);
    const size_t cut = find_stop(text, req.stop);
    const std::string_view visible = std::string_view(text).substr(0, cut);
    if (req.stream) {
      const size_t safe = cut != std::string::npos ? cut : safe_stream_length(visible, holds);
      if (safe > emitted && visible.substr(0, safe).find(kToolCallOpen) == std::string_view::npos) {
        if (!ex.event(chunk(delta_choice(
                json{{"content", std::string(visible.substr(emitted, safe - emitted))}})))) {
          client_gone = true;
          return false;
        }
        emitted = safe;
      }
    }
    if (cut != std::string::npos) {
      stop_hit = true;
      return false;
    }
    return true;
  };
  auto result = be.generate(prompt, go);
  slot.release();
  if (ttft >= 0) metrics.ttft(version, ttft);
  metrics.tokens(version, n_prompt, n_generated);
  record["completion_tokens"] = n_generated;
  if (ttft >= 0) record["ttft_ms"] = ttft * 1000;
  record["stream"] = req.stream;

  std::optional<ApiError> error;
  if (!result) {
    error = ApiError{500, "Generation failed: " + result.status().message(), "server_error"};
  } else if (timed_out) {
    error = ApiError{
        504,
        "The request took longer than this server's limit of " + json(opt.timeout_s).dump() + " s.",
        "server_error", "", "timeout"};
  }
  if (client_gone) {
    record["error"] = "client went away";
    return finish(499);
  }
  if (error) {
    if (!req.stream) return fail(*error);
    ex.event(error_body(*error));
    ex.end_stream();
    record["error"] = error->message;
    metrics.latency(version, since(t0));
    return finish(error->status);
  }

  std::string text = be.decode(gen);
  if (const size_t cut = find_stop(text, req.stop); cut != std::string::npos) {
    text.resize(cut);
    stop_hit = true;
  }
  AssistantOutput out;
  if (req.tools_active()) {
    out = parse_tool_calls(text);
  } else {
    out.content = text;
  }
  std::string finish_reason = stop_hit ? "stop" : "length";
  if (!out.tool_calls.empty()) finish_reason = "tool_calls";
  const json usage = {{"prompt_tokens", n_prompt},
                      {"completion_tokens", n_generated},
                      {"total_tokens", n_prompt + n_generated}};
  record["output"] = out.content;
  record["finish_reason"] = finish_reason;
  if (!out.tool_calls.empty()) record["tool_calls"] = tool_calls_json(out.tool_calls, false);

  if (req.stream) {
    // What was held back (a partial stop string that never completed, a tool call) goes now.
    if (out.content.size() > emitted && out.content.compare(0, emitted, text, 0, emitted) == 0)
      ex.event(chunk(delta_choice(json{{"content", out.content.substr(emitted)}})));
    if (!out.tool_calls.empty())
      ex.event(chunk(delta_choice(json{{"tool_calls", tool_calls_json(out.tool_calls, true)}})));
    ex.event(chunk(delta_choice(json::object(), finish_reason)));
    if (req.include_usage) {
      json u = base;
      u["choices"] = json::array();
      u["usage"] = usage;
      ex.event(dump(u));
    }
    ex.end_stream();
  } else {
    json body = base;
    body["object"] = chat ? "chat.completion" : "text_completion";
    if (chat) {
      json message = {
          {"role", "assistant"},
          {"content",
           out.content.empty() && !out.tool_calls.empty() ? json(nullptr) : json(out.content)}};
      if (!out.tool_calls.empty()) message["tool_calls"] = tool_calls_json(out.tool_calls, false);
      body["choices"] = json::array({{{"index", 0},
                                      {"message", message},
                                      {"finish_reason", finish_reason},
                                      {"logprobs", nullptr}}});
    } else {
      body["choices"] = json::array({{{"index", 0},
                                      {"text", out.content},
                                      {"finish_reason", finish_reason},
                                      {"logprobs", nullptr}}});
    }
    body["usage"] = usage;
    ex.send(200, dump(body), "application/json", headers);
  }
  metrics.latency(version, since(t0));
  finish(ex.failed() ? 499 : 200);
}

}  // namespace llmops::serve
