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

using Headers = std::vector<std::pair<std::string, std::string>>;

// An answer that turns a request away before it generates, with its extra headers.
struct Rejection {
  ApiError error;
  Headers headers;
};

// The 503 of a server with no model version to run yet.
ApiError loading_error() {
  return ApiError{503, "The model is still loading.", "server_error", "", "loading"};
}

// One generation request: the exchange, its id and route, and the log record it fills as it goes.
struct Call {
  Call(Exchange& e, Metrics& mx, RequestLog& lg, bool c, std::string v)
      : ex(e), metrics(mx), log(lg), chat(c), version(std::move(v)) {}

  Exchange& ex;
  Metrics& metrics;
  RequestLog& log;
  const bool chat;
  const Clock::time_point t0 = Clock::now();
  const std::string route = chat ? "/v1/chat/completions" : "/v1/completions";
  const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
  const std::string& body = ex.request().body();
  json record = {{"type", "completion"}, {"time", unix_time()}, {"id", id}, {"route", route}};
  std::string version;
  ParsedRequest parsed;

  // Counts the request and writes its log record, with `status` and the latency.
  void finish(int status) {
    record["status"] = status;
    record["version"] = version;
    record["latency_ms"] = since(t0) * 1000;
    metrics.request(version, route, status);
    log.append(std::move(record));
  }
  // Answers with `e` (not streamed) and finishes.
  void fail(const ApiError& e) {
    ex.send_error(e);
    record["error"] = e.message;
    finish(e.status);
  }
  // The client hung up: finishes with 499.
  void gone() {
    record["error"] = "client went away";
    finish(499);
  }
  // Turned away before generating (bad request, unknown model, loading, queue full or waited too
  // long, prompt too long): one short line in the log, with sizes and the reason, not the text.
  void reject(const ApiError& e, const Headers& headers = {});
};

void Call::reject(const ApiError& e, const Headers& headers) {
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
  if (!parsed.error) add_sizes(line, parsed.request, chat);
  if (record.contains("queue_ms")) line["queue_ms"] = record["queue_ms"];
  if (record.contains("prompt_tokens")) line["prompt_tokens"] = record["prompt_tokens"];
  metrics.request(version, route, e.status);
  log.append(std::move(line));
}

// Why a parsed request cannot be served before it queues: bad body, unknown model, no model yet.
std::optional<Rejection> request_rejection(const ParsedRequest& parsed, const std::string& served,
                                           const std::string& version) {
  if (parsed.error) return Rejection{*parsed.error, {}};
  const auto& req = parsed.request;
  if (req.model != served)
    return Rejection{ApiError{404,
                              "The model '" + req.model + "' does not exist (this server serves '" +
                                  served + "').",
                              "invalid_request_error", "model", "model_not_found"},
                     {}};
  if (version == "none") return Rejection{loading_error(), {{"Retry-After", "1"}}};
  return std::nullopt;
}

// Waits for a generation slot (first come, first served, bounded in number and in time); the
// 429 or 503 to answer when none comes.
std::optional<Rejection> wait_for_slot(Call& call, Admission& admission, double queue_timeout_s) {
  auto retry_after = [&] {
    return Headers{{"Retry-After", std::to_string(admission.retry_after_s())}};
  };
  switch (admission.acquire(call.t0 + seconds(queue_timeout_s))) {
    case Admission::Outcome::kAdmitted:
      break;
    case Admission::Outcome::kQueueFull:
      call.metrics.rejected(Metrics::Rejected::kQueueFull);
      return Rejection{
          ApiError{429,
                   "The server is busy: " + std::to_string(admission.slots()) +
                       " requests generating and " + std::to_string(admission.capacity()) +
                       " waiting (its queue is full); retry shortly.",
                   "rate_limit_error", "", "rate_limit_exceeded"},
          retry_after()};
    case Admission::Outcome::kTimedOut:
      call.metrics.rejected(Metrics::Rejected::kQueueTimeout);
      call.record["queue_ms"] = since(call.t0) * 1000;
      return Rejection{ApiError{503,
                                "The request waited " + json(queue_timeout_s).dump() +
                                    " s for a generation slot without getting one; retry shortly.",
                                "server_error", "", "queue_timeout"},
                       retry_after()};
    case Admission::Outcome::kStopping:
      return Rejection{
          ApiError{503, "The server is shutting down.", "server_error", "", "shutting_down"},
          {{"Retry-After", "1"}}};
  }
  return std::nullopt;
}

// The prompt text the model sees: the rendered conversation (with its tools), or the prompt.
std::string prompt_text(const Backend& be, const CompletionRequest& req, bool chat) {
  if (!chat) return req.prompt;
  return be.render_chat(req.tools_active() ? with_tools_prompt(req.messages, req.tools)
                                           : req.messages);
}

// The 400 for a prompt that encodes to nothing or leaves no room for max_tokens, if any.
std::optional<ApiError> prompt_error(const Backend& be, const CompletionRequest& req,
                                     int64_t n_prompt, bool chat) {
  if (n_prompt == 0)
    return ApiError{400, "The prompt encodes to no tokens.", "invalid_request_error",
                    chat ? "messages" : "prompt"};
  if (n_prompt + req.max_tokens > be.context_length())
    return ApiError{
        400,
        "This model's maximum context length is " + std::to_string(be.context_length()) +
            " tokens. However, you requested " + std::to_string(n_prompt + req.max_tokens) +
            " tokens (" + std::to_string(n_prompt) + " in the prompt, " +
            std::to_string(req.max_tokens) + " for the completion).",
        "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded"};
  return std::nullopt;
}

// It generates: the log keeps the request (its text redacted unless --no-redact-pii).
void record_request(json& record, const CompletionRequest& req, bool chat) {
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
}

// The envelope shared by every chunk and the whole answer (id, object, created, model,
// fingerprint), and the streamed choices built on it.
struct Chunks {
  json base;
  bool chat;
  // One streamed chunk holding `choice`, serialised.
  std::string chunk(const json& choice) const {
    json c = base;
    c["choices"] = json::array({choice});
    return dump(c);
  }
  // A streamed choice: a chat delta, or a completion's text.
  json delta(json d, json finish_reason = nullptr) const {
    if (chat)
      return json{{"index", 0},
                  {"delta", std::move(d)},
                  {"finish_reason", finish_reason},
                  {"logprobs", nullptr}};
    return json{{"index", 0},
                {"text", d.value("content", std::string())},
                {"finish_reason", finish_reason},
                {"logprobs", nullptr}};
  }
};

// A generation in progress, token by token: where it stops, and (streaming) what the client has
// been sent so far.
struct Generation {
  Generation(const Backend& b, const CompletionRequest& r, bool chat, Exchange& e, const Chunks& c,
             Clock::time_point start, Clock::time_point end)
      : be(b),
        req(r),
        ex(e),
        chunks(c),
        t0(start),
        deadline(end),
        stop_ids(r.ignore_eos ? std::vector<int64_t>{} : b.stop_ids(chat)),
        holds(r.stop) {
    if (req.tools_active()) holds.emplace_back(kToolCallOpen);
  }

  const Backend& be;
  const CompletionRequest& req;
  Exchange& ex;
  const Chunks& chunks;
  const Clock::time_point t0, deadline;
  const std::vector<int64_t> stop_ids;
  std::vector<std::string> holds;  // what streaming holds back: stop strings, the tool-call mark
  std::vector<int64_t> gen;        // without stop tokens
  int64_t n_generated = 0;
  size_t emitted = 0;
  bool stop_hit = false, timed_out = false, client_gone = false;
  double ttft = -1;

  // Runs the backend on `prompt` with the request's sampling options.
  Result<std::vector<int64_t>> run(const std::vector<int64_t>& prompt);
  // Takes one new token; false to stop (stop token or string, deadline, client gone).
  bool on_token(int64_t tok);
  // Streams what of `visible` can no longer become a stop string or a tool call; false when the
  // client went away.
  bool stream_visible(std::string_view visible, size_t cut);
};

Result<std::vector<int64_t>> Generation::run(const std::vector<int64_t>& prompt) {
  lm::GenerationOptions go;
  go.max_new_tokens = req.max_tokens;
  go.temperature = req.temperature;
  go.top_p = req.top_p;
  go.seed = req.seed ? *req.seed : std::random_device{}();
  go.stop_tokens = stop_ids;
  go.on_token = [this](int64_t tok) { return on_token(tok); };
  return be.generate(prompt, go);
}

bool Generation::on_token(int64_t tok) {
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
  if (req.stream && !stream_visible(std::string_view(text).substr(0, cut), cut)) {
    client_gone = true;
    return false;
  }
  if (cut != std::string::npos) {
    stop_hit = true;
    return false;
  }
  return true;
}

bool Generation::stream_visible(std::string_view visible, size_t cut) {
  const size_t safe = cut != std::string::npos ? cut : safe_stream_length(visible, holds);
  if (safe <= emitted || visible.substr(0, safe).find(kToolCallOpen) != std::string_view::npos)
    return true;
  if (!ex.event(chunks.chunk(
          chunks.delta(json{{"content", std::string(visible.substr(emitted, safe - emitted))}}))))
    return false;
  emitted = safe;
  return true;
}

// Counts what was generated (metrics and the log record).
void count_generation(Call& call, const Generation& g, int64_t n_prompt) {
  if (g.ttft >= 0) call.metrics.ttft(call.version, g.ttft);
  call.metrics.tokens(call.version, n_prompt, g.n_generated);
  call.record["completion_tokens"] = g.n_generated;
  if (g.ttft >= 0) call.record["ttft_ms"] = g.ttft * 1000;
  call.record["stream"] = g.req.stream;
}

// The 500 of a failed generation or the 504 of one past the time limit, if either.
std::optional<ApiError> generation_error(const Result<std::vector<int64_t>>& result, bool timed_out,
                                         double timeout_s) {
  if (!result)
    return ApiError{500, "Generation failed: " + result.status().message(), "server_error"};
  if (timed_out)
    return ApiError{
        504,
        "The request took longer than this server's limit of " + json(timeout_s).dump() + " s.",
        "server_error", "", "timeout"};
  return std::nullopt;
}

// Answers a generation error: an error response, or an error event ending the stream.
void answer_error(Call& call, const ApiError& error) {
  if (!call.parsed.request.stream) return call.fail(error);
  call.ex.event(error_body(error));
  call.ex.end_stream();
  call.record["error"] = error.message;
  call.metrics.latency(call.version, since(call.t0));
  call.finish(error.status);
}

// What the model said in the end: cut at a stop string, split into content and tool calls.
struct Answer {
  std::string text;
  AssistantOutput out;
  std::string finish_reason;
};

// The answer of a finished generation, with its finish reason.
Answer final_answer(const Generation& g) {
  Answer a{g.be.decode(g.gen), {}, {}};
  bool stop_hit = g.stop_hit;
  if (const size_t cut = find_stop(a.text, g.req.stop); cut != std::string::npos) {
    a.text.resize(cut);
    stop_hit = true;
  }
  if (g.req.tools_active()) {
    a.out = parse_tool_calls(a.text);
  } else {
    a.out.content = a.text;
  }
  a.finish_reason = stop_hit ? "stop" : "length";
  if (!a.out.tool_calls.empty()) a.finish_reason = "tool_calls";
  return a;
}

// Ends a stream: what was held back, the tool calls, the finish reason and (if asked) the usage.
void finish_stream(Exchange& ex, const Chunks& chunks, const Answer& a, size_t emitted,
                   const json& usage, bool include_usage) {
  const auto& out = a.out;
  // What was held back (a partial stop string that never completed, a tool call) goes now.
  if (out.content.size() > emitted && out.content.compare(0, emitted, a.text, 0, emitted) == 0)
    ex.event(chunks.chunk(chunks.delta(json{{"content", out.content.substr(emitted)}})));
  if (!out.tool_calls.empty())
    ex.event(
        chunks.chunk(chunks.delta(json{{"tool_calls", tool_calls_json(out.tool_calls, true)}})));
  ex.event(chunks.chunk(chunks.delta(json::object(), a.finish_reason)));
  if (include_usage) {
    json u = chunks.base;
    u["choices"] = json::array();
    u["usage"] = usage;
    ex.event(dump(u));
  }
  ex.end_stream();
}

// The body of a whole (not streamed) answer.
json completion_body(const Chunks& chunks, const Answer& a, const json& usage) {
  const auto& out = a.out;
  json body = chunks.base;
  body["object"] = chunks.chat ? "chat.completion" : "text_completion";
  if (chunks.chat) {
    json message = {
        {"role", "assistant"},
        {"content",
         out.content.empty() && !out.tool_calls.empty() ? json(nullptr) : json(out.content)}};
    if (!out.tool_calls.empty()) message["tool_calls"] = tool_calls_json(out.tool_calls, false);
    body["choices"] = json::array({{{"index", 0},
                                    {"message", message},
                                    {"finish_reason", a.finish_reason},
                                    {"logprobs", nullptr}}});
  } else {
    body["choices"] = json::array({{{"index", 0},
                                    {"text", out.content},
                                    {"finish_reason", a.finish_reason},
                                    {"logprobs", nullptr}}});
  }
  body["usage"] = usage;
  return body;
}

// Generates for an admitted request and answers it, streamed or whole; frees `slot` as soon as
// generation ends.
void generate_and_answer(Call& call, const ServerOptions& opt, const Backend& be,
                         const std::vector<int64_t>& prompt, Clock::time_point admitted,
                         Slot& slot) {
  const auto& req = call.parsed.request;
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  const Chunks chunks{json{{"id", call.id},
                           {"object", call.chat ? "chat.completion.chunk" : "text_completion"},
                           {"created", unix_time()},
                           {"model", opt.name},
                           {"system_fingerprint", call.version}},
                      call.chat};
  Generation g(be, req, call.chat, call.ex, chunks, call.t0, admitted + seconds(opt.timeout_s));
  const Headers headers = {{"X-Model-Version", call.version}, {"X-Request-Id", call.id}};
  if (req.stream) {
    if (!call.ex.start_stream(headers)) return call.gone();
    if (call.chat)
      call.ex.event(chunks.chunk(chunks.delta(json{{"role", "assistant"}, {"content", ""}})));
  }

  auto result = g.run(prompt);
  slot.release();
  count_generation(call, g, n_prompt);
  const auto error = generation_error(result, g.timed_out, opt.timeout_s);
  if (g.client_gone) return call.gone();
  if (error) return answer_error(call, *error);

  const Answer a = final_answer(g);
  const json usage = {{"prompt_tokens", n_prompt},
                      {"completion_tokens", g.n_generated},
                      {"total_tokens", n_prompt + g.n_generated}};
  call.record["output"] = a.out.content;
  call.record["finish_reason"] = a.finish_reason;
  if (!a.out.tool_calls.empty())
    call.record["tool_calls"] = tool_calls_json(a.out.tool_calls, false);
  if (req.stream) {
    finish_stream(call.ex, chunks, a, g.emitted, usage, req.include_usage);
  } else {
    call.ex.send(200, dump(completion_body(chunks, a, usage)), "application/json", headers);
  }
  call.metrics.latency(call.version, since(call.t0));
  call.finish(call.ex.failed() ? 499 : 200);
}

}  // namespace

void Server::Impl::handle_generation(Exchange& ex, bool chat) {
  Call call(ex, metrics, log, chat, label());
  call.parsed = chat ? parse_chat_request(call.body, opt.limits)
                     : parse_completion_request(call.body, opt.limits);
  const auto& req = call.parsed.request;
  if (auto r = request_rejection(call.parsed, opt.name, call.version))
    return call.reject(r->error, r->headers);
  if (auto r = wait_for_slot(call, admission, opt.queue_timeout_s))
    return call.reject(r->error, r->headers);

  const auto admitted = Clock::now();
  metrics.queue_wait(since(call.t0));
  call.record["queue_ms"] = since(call.t0) * 1000;
  auto v = pick();
  if (!v) {
    admission.release(0);
    return call.reject(loading_error(), {{"Retry-After", "1"}});
  }
  call.version = v->name;
  metrics.in_flight(call.version, +1);
  Slot slot{admission, metrics, call.version};

  const Backend& be = *v->backend;
  const auto prompt = be.encode(prompt_text(be, req, chat));
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  call.record["prompt_tokens"] = n_prompt;
  if (auto e = prompt_error(be, req, n_prompt, chat)) return call.reject(*e);
  record_request(call.record, req, chat);
  generate_and_answer(call, opt, be, prompt, admitted, slot);
}

}  // namespace llmops::serve
