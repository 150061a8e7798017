// The UI's API: routing, errors, the reader pool, runs and the live event stream (see api.hpp).
// Steps and logs are in api_steps.cpp; metrics, lineage, deployments, schedules and monitor
// reports in api_more.cpp; actions in actions.cpp.
#include "ui/api.hpp"

#include "engine/spec/loaded_pipeline.hpp"
#include "ui/assets.hpp"
#include "ui/layout.hpp"
#include "ui/views.hpp"

namespace llmops::ui {

using nlohmann::json;
using views::dump;
using views::time_or_null;

namespace {

constexpr size_t kPoolSize = 4;
constexpr size_t kDagreMaxSteps = 500;

Response json_response(int status, const json& body) {
  return {status, "application/json", dump(body), {{"Cache-Control", "no-store"}}};
}

Response error_response(const ApiError& e) {
  json err = {{"code", e.code}, {"message", e.message}};
  for (auto it = e.extra.begin(); it != e.extra.end(); ++it) err[it.key()] = it.value();
  Response r = json_response(e.status, {{"error", err}});
  if (e.status == 405) r.headers.emplace_back("Allow", e.extra.value("allow", "GET"));
  return r;
}

// A store Status as the API's error.
[[noreturn]] void throw_status(const Status& s, const std::string& not_found_code) {
  const std::string& m = s.message();
  if (m.rfind("schema_too_new: ", 0) == 0) throw ApiError{409, "schema_too_new", m.substr(16)};
  if (m.rfind("schema_too_old: ", 0) == 0) throw ApiError{409, "schema_too_old", m.substr(16)};
  if (s.code() == StatusCode::kNotFound) throw ApiError{404, not_found_code, m};
  if (s.code() == StatusCode::kInvalidArgument) throw ApiError{400, "bad_query", m};
  throw ApiError{500, "store_error", m};
}

template <typename T>
T value_or_throw(Result<T> r, const std::string& not_found_code = "not_found") {
  if (!r) throw_status(r.status(), not_found_code);
  return std::move(r.value());
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

const std::set<std::string> kStates = {"pending", "running", "succeeded", "failed",
                                       "cached",  "skipped", "cancelled"};
const std::set<std::string> kTriggers = {"manual", "cron", "watch", "feedback", "resume"};

}  // namespace

// --- query parameters ------------------------------------------------------------------------

void allow_params(const Request& req, std::initializer_list<const char*> names) {
  for (const auto& [k, v] : req.query) {
    bool ok = false;
    for (const char* n : names) ok = ok || k == n;
    if (!ok)
      throw ApiError{400,
                     "bad_query",
                     "unknown parameter '" + k.substr(0, 64) + "'",
                     {{"param", k.substr(0, 64)}}};
  }
}

int64_t parse_id(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
    throw ApiError{400,
                   "bad_query",
                   std::string(what) + " must be a whole number, not '" + s.substr(0, 64) + "'",
                   {{"param", what}}};
  return std::stoll(s);
}

int64_t int_param(const Request& req, const char* name, int64_t def, int64_t lo, int64_t hi) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return def;
  std::string s = it->second;
  const bool neg = !s.empty() && s[0] == '-';
  const int64_t v = parse_id(neg ? s.substr(1) : s, name) * (neg ? -1 : 1);
  if (v < lo || v > hi)
    throw ApiError{400,
                   "bad_query",
                   std::string(name) + " must be from " + std::to_string(lo) + " to " +
                       std::to_string(hi) + ", not " + s,
                   {{"param", name}}};
  return v;
}

std::string str_param(const Request& req, const char* name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? "" : it->second;
}

std::vector<int64_t> ids_param(const Request& req, const char* name, size_t max) {
  std::vector<int64_t> out;
  const std::string s = str_param(req, name);
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(parse_id(s.substr(start, end - start), name));
    start = end + 1;
  }
  if (out.size() > max)
    throw ApiError{400,
                   "bad_query",
                   std::string(name) + ": at most " + std::to_string(max),
                   {{"param", name}}};
  return out;
}

// --- the reader pool --------------------------------------------------------------------

Api::Api(UiOptions options) : o_(std::move(options)), specs_(std::make_unique<SpecCache>()) {
  const auto home = o_.home;
  feed_ = std::make_unique<Feed>([home] { return store::Store::open_reader(home); }, o_.poll);
  feed_->start();
}

Api::~Api() {
  feed_->stop();
}

Api::Reader::~Reader() {
  if (broken_ || !s_) return;
  std::lock_guard lock(api_.pool_mu_);
  if (api_.pool_.size() < kPoolSize) api_.pool_.push_back(std::move(s_));
}

Api::Reader Api::reader() {
  {
    std::lock_guard lock(pool_mu_);
    while (!pool_.empty()) {
      auto s = std::move(pool_.back());
      pool_.pop_back();
      // The store may have been upgraded (or replaced) by another llmops since: one cheap read.
      if (auto v = s->schema_version(); v && v.value() == store::schema_version_supported())
        return Reader(*this, std::move(s));
    }
  }
  auto r = store::Store::open_reader(o_.home);
  if (!r) {
    if (r.status().code() == StatusCode::kNotFound)
      throw ApiError{503, "no_store", r.status().message(), {{"home", o_.home.string()}}};
    throw_status(r.status(), "no_store");
  }
  return Reader(*this, std::move(r.value()));
}

// --- routing --------------------------------------------------------------------------------

void Api::handle(const Request& req, Exchange& ex) {
  try {
    route(req, ex);
  } catch (const ApiError& e) {
    if (!ex.sent()) ex.send(error_response(e));
  } catch (const std::exception& e) {
    if (!ex.sent())
      ex.send(error_response({500, "internal", std::string("internal error: ") + e.what()}));
  }
}

void Api::route(const Request& req, Exchange& ex) {
  // DNS rebinding: a page from another name that resolves to 127.0.0.1 must not read the API.
  const std::string host = req.header("host");
  const std::string port = ":" + std::to_string(o_.port);
  if (o_.check_host && host != "127.0.0.1" + port && host != "localhost" + port &&
      host != "[::1]" + port && host != o_.host + port)
    throw ApiError{421, "bad_host",
                   "this server answers to 127.0.0.1" + port + " or localhost" + port + " only"};
  const bool api = req.path == "/api" || req.path.rfind("/api/", 0) == 0;
  if (!api) {
    if (req.method != "GET" && req.method != "HEAD")
      throw ApiError{405, "method_not_allowed", "only GET here", {{"allow", "GET"}}};
    return asset(req, ex);
  }
  const auto p = split_path(req.path);  // "api", ...
  const size_t n = p.size();
  auto is = [&](std::initializer_list<const char*> want) {
    if (want.size() != n) return false;
    size_t i = 0;
    for (const char* w : want) {
      if (std::string(w) != "*" && p[i] != w) return false;
      ++i;
    }
    return true;
  };
  if (req.method == "POST") {
    if (is({"api", "runs", "*", "*"}))
      return ex.send(json_response(202, action(req, "run", p[2], p[3])));
    if (is({"api", "deployments", "*", "*"}))
      return ex.send(json_response(202, action(req, "deployment", p[2], p[3])));
    throw ApiError{405, "method_not_allowed", "POST is only for actions", {{"allow", "GET"}}};
  }
  if (req.method != "GET")
    throw ApiError{405, "method_not_allowed", req.method + " is not supported", {{"allow", "GET"}}};
  if (is({"api", "meta"})) return ex.send(json_response(200, meta()));
  if (is({"api", "events"})) return events(req, ex);
  if (is({"api", "runs"})) return ex.send(json_response(200, runs(req)));
  if (n >= 3 && p[1] == "runs") {
    const int64_t id = parse_id(p[2], "run");
    if (n == 3) {
      allow_params(req, {});
      return ex.send(json_response(200, run(id)));
    }
    if (is({"api", "runs", "*", "attempts"})) return ex.send(json_response(200, attempts(id)));
    if (n >= 5 && p[3] == "steps") {
      const std::string& step = p[4];
      if (n == 5) return ex.send(json_response(200, this->step(id, step)));
      if (is({"api", "runs", "*", "steps", "*", "log"}))
        return ex.send(json_response(200, log(id, step, req)));
      if (is({"api", "runs", "*", "steps", "*", "log", "stream"}))
        return log_stream(id, step, req, ex);
      if (is({"api", "runs", "*", "steps", "*", "log", "download"}))
        return log_download(id, step, ex);
    }
  }
  if (is({"api", "metrics", "names"})) return ex.send(json_response(200, metric_names(req)));
  if (is({"api", "metrics"})) return ex.send(json_response(200, metrics(req)));
  if (is({"api", "gates"})) return ex.send(json_response(200, gates(req)));
  if (is({"api", "lineage"})) return ex.send(json_response(200, lineage(req)));
  if (is({"api", "artifacts", "*"})) return ex.send(json_response(200, artifact(p[2])));
  if (is({"api", "deployments"})) return ex.send(json_response(200, deployments()));
  if (is({"api", "deployments", "*"})) return ex.send(json_response(200, deployment(p[2])));
  if (is({"api", "schedules"})) return ex.send(json_response(200, schedules()));
  if (is({"api", "monitor", "reports"})) return ex.send(json_response(200, reports(req)));
  throw ApiError{404, "no_route", "no API at " + req.path.substr(0, 200) + " (see docs/ui.md)"};
}

void Api::asset(const Request& req, Exchange& ex) {
  auto a = find_asset(req.path, o_.assets_dir);
  if (!a) a = find_asset("/index.html", o_.assets_dir);  // client-side routes: /runs/5, ...
  if (!a) throw ApiError{404, "no_route", "the web UI's files are missing from this build"};
  Response r{200, a->mime, a->body, {}};
  r.headers.emplace_back("ETag", a->etag);
  // no-cache: revalidate by ETag (a 304), so an upgraded binary never mixes old modules in.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
                         "data:; frame-ancestors 'none'");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (req.header("if-none-match") == a->etag) {
    r.status = 304;
    r.body.clear();
  }
  ex.send(r);
}

// --- meta, runs ------------------------------------------------------------------------------

json Api::meta() {
  json j = {{"version", o_.version},
            {"home", o_.home.string()},
            {"actions", !o_.token.empty()},
            {"schema", {{"found", nullptr}, {"supported", store::schema_version_supported()}}}};
  try {
    auto r = reader();
    j["store"] = "ok";
    if (auto v = r->schema_version()) j["schema"]["found"] = v.value();
  } catch (const ApiError& e) {
    j["store"] = e.code == "no_store" ? "missing" : e.code;
    j["store_error"] = e.message;
  }
  return j;
}

json Api::runs(const Request& req) {
  allow_params(req, {"pipeline", "state", "trigger", "before", "limit"});
  store::RunFilter f;
  f.pipeline = str_param(req, "pipeline");
  f.trigger = str_param(req, "trigger");
  if (!f.trigger.empty() && !kTriggers.count(f.trigger))
    throw ApiError{400,
                   "bad_query",
                   "trigger must be one of manual, cron, watch, feedback, resume",
                   {{"param", "trigger"}}};
  const std::string states = str_param(req, "state");
  for (size_t start = 0; start < states.size();) {
    size_t end = states.find(',', start);
    if (end == std::string::npos) end = states.size();
    const std::string s = states.substr(start, end - start);
    if (!s.empty() && !kStates.count(s))
      throw ApiError{
          400, "bad_query", "unknown state '" + s.substr(0, 32) + "'", {{"param", "state"}}};
    if (!s.empty()) f.states.push_back(s);
    start = end + 1;
  }
  if (req.query.count("before")) f.before = parse_id(str_param(req, "before"), "before");
  f.limit = static_cast<int>(int_param(req, "limit", 50, 1, 500));
  const std::string cursor = feed_->cursor();
  auto r = reader();
  auto page = value_or_throw(r->list_runs_filtered(f));
  std::vector<int64_t> ids;
  for (const auto& run : page.runs) ids.push_back(run.id);
  auto counts = value_or_throw(r->step_counts(ids));
  auto children = value_or_throw(r->feedback_children(ids));
  json out = {{"runs", json::array()},
              {"next_before", page.next_before ? json(*page.next_before) : json()},
              {"pipelines", value_or_throw(r->list_pipelines())},
              {"cursor", cursor}};
  for (const auto& run : page.runs) {
    json j = views::run_json(run);
    j["engine"] = views::engine_json(*r, run);
    json c = {{"total", 0}};
    for (const auto& s : kStates) c[s] = 0;
    int64_t total = 0;
    for (const auto& [state, count] : counts[run.id]) {
      c[state] = count;
      total += count;
    }
    c["total"] = total;
    j["steps"] = c;
    j["children"] = children.count(run.id) ? json(children[run.id]) : json::array();
    out["runs"].push_back(std::move(j));
  }
  return out;
}

json Api::run(int64_t id) {
  const std::string cursor = feed_->cursor();
  auto r = reader();
  auto info = value_or_throw(r->get_run(id), "no_such_run");
  auto steps = value_or_throw(r->list_steps(id), "no_such_run");
  json j = views::run_json(info);
  j["engine"] = views::engine_json(*r, info);
  auto children = value_or_throw(r->feedback_children({id}));
  j["children"] = children.count(id) ? json(children[id]) : json::array();
  json out = {{"run", j}, {"cursor", cursor}, {"spec_error", nullptr}};

  if (steps.size() > o_.summary_over_steps) {
    // Too many to draw: counts by state, and the steps that need a look (running, failed,
    // cancelled; at most 1,000).
    json counts = json::object();
    json rows = json::array();
    for (const auto& s : steps) {
      const std::string state = store::to_string(s.state);
      counts[state] = counts.value(state, 0) + 1;
      if ((s.state == store::State::kRunning || s.state == store::State::kFailed ||
           s.state == store::State::kCancelled) &&
          rows.size() < 1000)
        rows.push_back({{"name", s.step},
                        {"uses", ""},
                        {"state", state},
                        {"attempts", s.attempts},
                        {"started_at", time_or_null(s.started_at)},
                        {"ended_at", time_or_null(s.ended_at)},
                        {"reason", s.reason},
                        {"level", 0},
                        {"order", rows.size()}});
    }
    out["layout"] = "summary";
    out["total_steps"] = steps.size();
    out["counts"] = counts;
    out["steps"] = rows;
    out["edges"] = json::array();
    return out;
  }
  std::map<std::string, int> index;
  for (size_t i = 0; i < steps.size(); ++i) index[steps[i].step] = static_cast<int>(i);
  std::vector<std::pair<int, int>> edges;
  std::vector<std::string> uses(steps.size());
  auto loaded = specs_->get(info);
  if (loaded->spec && loaded->ok()) {
    for (const auto& s : loaded->spec->steps) {
      auto to = index.find(s.name);
      if (to == index.end()) continue;
      uses[static_cast<size_t>(to->second)] = s.uses;
      for (const auto& need : s.needs)
        if (auto from = index.find(need); from != index.end())
          edges.emplace_back(from->second, to->second);
    }
  } else {
    out["spec_error"] = loaded->diagnostics.empty() ? "the run's pipeline text could not be read"
                                                    : engine::error_lines(loaded->diagnostics);
  }
  const Layers layers = layer_layout(static_cast<int>(steps.size()), edges);
  json rows = json::array();
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    rows.push_back({{"name", s.step},
                    {"uses", uses[i]},
                    {"state", store::to_string(s.state)},
                    {"attempts", s.attempts},
                    {"started_at", time_or_null(s.started_at)},
                    {"ended_at", time_or_null(s.ended_at)},
                    {"reason", s.reason},
                    {"level", layers.level[i]},
                    {"order", layers.order[i]}});
  }
  json e = json::array();
  for (const auto& [from, to] : edges) e.push_back({from, to});
  out["steps"] = std::move(rows);
  out["edges"] = std::move(e);
  out["layout"] = steps.size() <= kDagreMaxSteps ? "dagre" : "layers";
  return out;
}

json Api::attempts(int64_t id) {
  auto r = reader();
  value_or_throw(r->get_run(id), "no_such_run");
  json out = {{"attempts", json::array()}};
  for (const auto& e : value_or_throw(r->list_executions(id)))
    out["attempts"].push_back({{"id", e.id},
                               {"step", e.step},
                               {"attempt", e.attempt},
                               {"state", store::to_string(e.state)},
                               {"started_at", time_or_null(e.started_at)},
                               {"ended_at", time_or_null(e.ended_at)},
                               {"error", e.error}});
  return out;
}

// --- the live stream -------------------------------------------------------------------------

void Api::events(const Request& req, Exchange& ex) {
  allow_params(req, {"run", "last_event_id"});
  const int64_t run = req.query.count("run") ? parse_id(str_param(req, "run"), "run") : 0;
  std::string last = req.header("last-event-id");
  if (last.empty()) last = str_param(req, "last_event_id");
  if (!ex.start_events() || !ex.retry(1000)) return;
  int64_t after = 0;
  if (auto seq = feed_->parse_id(last)) {
    after = *seq;
  } else {
    // Unknown id (this server restarted, or the ring moved on): the page reloads its snapshot.
    after = feed_->parse_id(feed_->cursor()).value_or(0);
    if (!ex.event(feed_->id_of(after), "resync", "{}")) return;
  }
  if (const std::string fatal = feed_->fatal(); !fatal.empty()) {
    const size_t colon = fatal.find(':');
    ex.event("", "fatal",
             dump({{"error",
                    {{"code", fatal.substr(0, colon)}, {"message", fatal.substr(colon + 2)}}}}));
  }
  auto quiet_since = std::chrono::steady_clock::now();
  while (!ex.peer_gone()) {
    int64_t scanned = after;
    auto batch = feed_->wait_after(after, run, std::chrono::milliseconds(500), scanned);
    std::string text;  // one write for the whole batch (a 10,000-step run sends thousands)
    for (const auto& e : batch) format_event(text, feed_->id_of(e.seq), e.name, e.data);
    if (!text.empty() && !ex.events(text)) return;
    after = scanned;  // past what was not ours too, so the next wait does not see it again
    const auto now = std::chrono::steady_clock::now();
    if (!batch.empty()) {
      quiet_since = now;
    } else if (now - quiet_since >= o_.heartbeat) {
      if (!ex.comment("hb")) return;
      quiet_since = now;
    }
  }
}

}  // namespace llmops::ui
