// The UI's API beyond runs: metric series, evaluation gates, lineage and artifacts, deployments
// (with their servers' live figures), schedules and monitor reports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "ui/api.hpp"
#include "ui/views.hpp"

namespace llmops::ui {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxLineageNodes = 2000;
constexpr int64_t kMaxPreview = 64 * 1024, kMaxReport = 1 << 20;

// A small file of the blob store as text: only under HOME/blobs, at most `max` bytes.
std::optional<std::string> read_blob_file(const fs::path& home, const fs::path& file, int64_t max,
                                          bool* truncated = nullptr) {
  std::error_code ec;
  const auto real = fs::weakly_canonical(file, ec);
  const auto root = fs::weakly_canonical(home / "blobs", ec);
  if (ec || real.string().rfind(root.string() + "/", 0) != 0 || !fs::is_regular_file(real, ec))
    return std::nullopt;
  const auto size = static_cast<int64_t>(fs::file_size(real, ec));
  std::ifstream in(real, std::ios::binary);
  std::string text(static_cast<size_t>(std::min(size, max)), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (truncated) *truncated = size > max;
  return text;
}

// GET http://127.0.0.1:PORT/PATH with a short deadline: the deployment's own server. Only
// loopback endpoints are asked (the UI must not be a way to reach other hosts).
std::optional<std::string> loopback_get(const std::string& endpoint, const std::string& path,
                                        std::string& error) {
  static const std::regex kLoopback(R"(^http://(127\.0\.0\.1|localhost):([0-9]{1,5})(/[^ ]*)?$)");
  std::smatch m;
  if (!std::regex_match(endpoint, m, kLoopback)) {
    error = "not a loopback endpoint: " + endpoint;
    return std::nullopt;
  }
  const int port = std::stoi(m[2]);
  if (port < 1 || port > 65535) {
    error = "bad port in " + endpoint;
    return std::nullopt;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "no socket";
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  if (const char* tok = std::getenv("LLMOPS_SERVE_TOKEN"); tok && *tok)
    req += std::string("Authorization: Bearer ") + tok + "\r\n";
  req += "\r\n";
  std::string resp;
  auto wait = [&](short ev) {  // at most until the deadline of the whole exchange
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, ev, 0};
    return left > 0 && ::poll(&p, 1, static_cast<int>(left)) > 0;
  };
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 || errno == EINPROGRESS;
  ok = ok && wait(POLLOUT) &&
       ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  while (ok && resp.size() < (4u << 20) && wait(POLLIN)) {
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t body = resp.find("\r\n\r\n");
  if (!ok || body == std::string::npos || resp.compare(0, 12, "HTTP/1.1 200") != 0) {
    error = resp.empty() ? "no answer from " + endpoint : resp.substr(0, resp.find("\r\n"));
    return std::nullopt;
  }
  return resp.substr(body + 4);
}

// The figures of a model server's /metrics (Prometheus text) that the page shows.
json serve_figures(const std::string& text) {
  double requests = 0, prompt = 0, generated = 0, dur_sum = 0, dur_count = 0, in_flight = 0;
  json shares = json::object();
  std::istringstream in(text);
  std::string line;
  static const std::regex kVersion("version=\"([^\"]*)\"");
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    const std::string name = line.substr(0, line.find_first_of("{ "));
    if (name == "llmops_requests_total") requests += v;
    if (name == "llmops_prompt_tokens_total") prompt += v;
    if (name == "llmops_generated_tokens_total") generated += v;
    if (name == "llmops_request_duration_seconds_sum") dur_sum += v;
    if (name == "llmops_request_duration_seconds_count") dur_count += v;
    if (name == "llmops_requests_in_flight") in_flight += v;
    std::smatch m;
    if (name == "llmops_model_info" && std::regex_search(line, m, kVersion)) shares[m[1]] = v;
  }
  return {{"requests", requests},
          {"generations", dur_count},
          {"mean_latency_ms", dur_count > 0 ? json(1000 * dur_sum / dur_count) : json()},
          {"prompt_tokens", prompt},
          {"generated_tokens", generated},
          {"in_flight", in_flight},
          {"shares", shares}};
}

json history_json(const store::DeploymentRecord& h) {
  return {{"action", h.action},
          {"artifact_digest", h.artifact_digest},
          {"state", h.state},
          {"endpoint", h.endpoint},
          {"info", views::parse_or(h.info_json, json::object())},
          {"run_id", h.run_id ? json(*h.run_id) : json()},
          {"execution_id", h.execution_id ? json(*h.execution_id) : json()},
          {"created_at", h.created_at}};
}

json deployment_json(const store::DeploymentInfo& d) {
  return {{"name", d.name},
          {"artifact_digest", d.artifact_digest},
          {"state", d.state},
          {"endpoint", d.endpoint},
          {"info", views::parse_or(d.info_json, json::object())},
          {"run_id", d.run_id ? json(*d.run_id) : json()},
          {"execution_id", d.execution_id ? json(*d.execution_id) : json()},
          {"updated_at", d.updated_at}};
}

// meta[key] when it has the type of `def`, else `def` (metadata comes from plugins: any shape).
json field(const json& meta, const char* key, const json& def) {
  auto it = meta.find(key);
  if (it == meta.end() || it->type() != def.type()) {
    if (it != meta.end() && it->is_number() && def.is_number()) return *it;
    return def;
  }
  return *it;
}

template <typename T>
T must(Result<T> r) {
  if (!r) throw ApiError{500, "store_error", r.status().message()};
  return std::move(r.value());
}

}  // namespace

json Api::metric_names(const Request& req) {
  allow_params(req, {"runs"});
  auto r = reader();
  return {{"names", must(r->metric_names(ids_param(req, "runs", 20)))}};
}

json Api::metrics(const Request& req) {
  allow_params(req, {"runs", "name"});
  const std::string name = str_param(req, "name");
  if (name.empty()) throw ApiError{400, "bad_query", "give a metric name", {{"param", "name"}}};
  auto r = reader();
  json series = json::array();
  int64_t last_exec = -1;
  for (const auto& p : must(r->metric_series(ids_param(req, "runs", 20), name))) {
    if (p.execution_id != last_exec) {
      series.push_back({{"run", p.run_id},
                        {"step", p.step},
                        {"attempt", p.attempt},
                        {"execution", p.execution_id},
                        {"points", json::array()}});
      last_exec = p.execution_id;
    }
    series.back()["points"].push_back({p.metric.step, p.metric.value, p.metric.time});
  }
  return {{"name", name}, {"series", series}};
}

json Api::gates(const Request& req) {
  allow_params(req, {"pipeline", "limit"});
  const int limit = static_cast<int>(int_param(req, "limit", 20, 1, 200));
  auto r = reader();
  json out = {{"gates", json::array()}};
  for (const auto& p :
       must(r->outputs_by_kind("blessing", "", str_param(req, "pipeline"), limit))) {
    json meta = json::parse(p.artifact.metadata_json, nullptr, false);
    if (!meta.is_object()) meta = json::object();
    json j = {{"run", p.run_id},
              {"step", p.step},
              {"pipeline", p.pipeline},
              {"created_at", p.artifact.created_at},
              {"artifact", views::artifact_json(p.artifact)},
              {"blessed", field(meta, "blessed", false)},
              {"gates_passed", field(meta, "gates_passed", 0)},
              {"gates_failed", field(meta, "gates_failed", 0)},
              {"gates_skipped", field(meta, "gates_skipped", 0)},
              {"gates", json::array()}};
    if (auto text =
            read_blob_file(o_.home, fs::path(p.artifact.uri) / "blessing.json", kMaxReport)) {
      auto b = json::parse(*text, nullptr, false);
      if (b.is_object() && b.contains("gates")) j["gates"] = b["gates"];
    }
    out["gates"].push_back(std::move(j));
  }
  return out;
}

json Api::lineage(const Request& req) {
  allow_params(req, {"ref", "direction", "depth"});
  const std::string ref = str_param(req, "ref");
  if (ref.empty())
    throw ApiError{400,
                   "bad_query",
                   "give ref: RUN:STEP, an artifact digest, or deployment:NAME",
                   {{"param", "ref"}}};
  const std::string dir =
      str_param(req, "direction").empty() ? "upstream" : str_param(req, "direction");
  if (dir != "upstream" && dir != "downstream")
    throw ApiError{
        400, "bad_query", "direction must be upstream or downstream", {{"param", "direction"}}};
  const int depth = static_cast<int>(int_param(req, "depth", 20, 0, 100));
  auto r = reader();
  auto starts = views::resolve_lineage_ref(*r, ref);
  if (!starts) {
    const bool nf = starts.status().code() == StatusCode::kNotFound;
    throw ApiError{nf ? 404 : 400, nf ? "no_such_artifact" : "bad_query",
                   starts.status().message()};
  }
  auto g = must(r->lineage(starts.value(), dir == "upstream", depth));
  if (g.nodes.size() > kMaxLineageNodes)
    throw ApiError{413, "too_large",
                   "the lineage of " + ref + " has " + std::to_string(g.nodes.size()) +
                       " nodes (the page shows up to " + std::to_string(kMaxLineageNodes) +
                       "): give a smaller depth, or use llmops lineage"};
  json out = {{"ref", ref}, {"direction", dir}, {"nodes", json::array()}, {"edges", json::array()}};
  for (const auto& n : g.nodes)
    out["nodes"].push_back(
        {{"type", n.type}, {"id", n.id}, {"label", n.label}, {"depth", n.depth}});
  for (const auto& e : g.edges)
    out["edges"].push_back({{"from", e.from}, {"to", e.to}, {"role", e.role}});
  return out;
}

json Api::artifact(const std::string& ref) {
  auto r = reader();
  auto found = must(r->find_artifacts(ref));
  if (found.empty())
    throw ApiError{404, "no_such_artifact", "no artifact matches '" + ref.substr(0, 80) + "'"};
  if (found.size() > 1)
    throw ApiError{400, "bad_query",
                   "'" + ref.substr(0, 80) + "' matches " + std::to_string(found.size()) +
                       " artifacts: give more of the digest"};
  const auto& a = found.front();
  json out = {{"artifact", views::artifact_json(a)},
              {"producer", nullptr},
              {"consumers", json::array()},
              {"preview", nullptr}};
  for (const auto& u : must(r->artifact_uses(a.digest))) {
    json use = {
        {"run", u.run_id}, {"step", u.step}, {"execution", u.execution_id}, {"role", u.role}};
    if (u.direction == "output" && out["producer"].is_null())
      out["producer"] = use;
    else if (u.direction == "input")
      out["consumers"].push_back(use);
  }
  // A preview: the artifact itself when it is a small file, else the first small text file in
  // its folder. A file too big is named, not read.
  std::error_code ec;
  fs::path file = a.uri;
  if (fs::is_directory(file, ec)) {
    fs::path pick;
    for (fs::directory_iterator it(file, ec), end; !ec && it != end; it.increment(ec)) {
      const auto ext = it->path().extension().string();
      if (it->is_regular_file(ec) && (ext == ".json" || ext == ".md" || ext == ".txt" ||
                                      ext == ".jsonl" || ext == ".yaml" || ext == ".csv"))
        if (pick.empty() || it->path().filename() < pick.filename()) pick = it->path();
    }
    file = pick;
  }
  if (!file.empty()) {
    bool truncated = false;
    if (auto text = read_blob_file(o_.home, file, kMaxPreview, &truncated)) {
      const bool binary = text->find('\0') != std::string::npos;
      out["preview"] = {{"file", file.filename().string()},
                        {"text", binary ? "" : *text},
                        {"binary", binary},
                        {"truncated", truncated},
                        {"size", static_cast<int64_t>(fs::file_size(file, ec))}};
    }
  }
  return out;
}

json Api::deployments() {
  auto r = reader();
  json out = {{"deployments", json::array()}};
  for (const auto& d : must(r->list_deployments()))
    out["deployments"].push_back(deployment_json(d));
  return out;
}

json Api::deployment(const std::string& name) {
  auto r = reader();
  for (const auto& d : must(r->list_deployments())) {
    if (d.name != name) continue;
    json out = {{"deployment", deployment_json(d)}, {"history", json::array()}};
    auto hist = must(r->deployment_history(name));
    for (auto it = hist.rbegin(); it != hist.rend(); ++it)
      out["history"].push_back(history_json(*it));
    json live = {{"reachable", false}, {"health", nullptr}, {"metrics", nullptr}, {"error", ""}};
    if (d.state == "running" && !d.endpoint.empty()) {
      std::string err;
      if (auto health = loopback_get(d.endpoint, "/health", err)) {
        live["reachable"] = true;
        live["health"] = views::parse_or(*health, json(*health));
        if (auto m = loopback_get(d.endpoint, "/metrics", err)) live["metrics"] = serve_figures(*m);
      }
      live["error"] = err;
    }
    out["live"] = live;
    out["actions"] = json::array();
    for (const auto& a : must(r->list_actions("deployment:" + name, 20)))
      out["actions"].push_back({{"actor", a.actor},
                                {"action", a.action},
                                {"outcome", a.outcome},
                                {"created_at", a.created_at}});
    return out;
  }
  throw ApiError{404, "no_such_deployment",
                 "no deployment '" + name.substr(0, 80) + "' (see: llmops deployments list)"};
}

json Api::schedules() {
  json out = {{"schedules", json::array()}, {"error", nullptr}};
  if (!o_.schedules) return out;
  std::optional<Reader> r;
  try {
    r.emplace(reader());
  } catch (const ApiError&) {
  }
  auto rows = o_.schedules(r ? &**r : nullptr);
  if (!rows) {
    out["error"] = rows.status().message();
    return out;
  }
  for (auto row : rows.value()) {
    row["runs"] = json::array();
    if (r) {
      store::RunFilter f;
      f.pipeline = row.value("pipeline", "");
      f.limit = 50;
      for (const auto& run : must((*r)->list_runs_filtered(f)).runs) {
        // The runs this entry started: its id is in the run's trigger info.
        auto info = json::parse(run.trigger_info_json, nullptr, false);
        const bool ours = info.is_object() && info.contains("schedule") &&
                          info["schedule"].is_string() && info["schedule"] == row["schedule"];
        if (!ours) continue;
        if (row["runs"].size() >= 5) break;
        row["runs"].push_back({{"id", run.id},
                               {"state", store::to_string(run.state)},
                               {"trigger", run.trigger},
                               {"started_at", run.started_at}});
      }
    }
    out["schedules"].push_back(std::move(row));
  }
  return out;
}

json Api::reports(const Request& req) {
  allow_params(req, {"limit", "pipeline"});
  const int limit = static_cast<int>(int_param(req, "limit", 20, 1, 200));
  auto r = reader();
  json out = {{"reports", json::array()}};
  auto found = must(r->outputs_by_kind("report", "monitor/", str_param(req, "pipeline"), limit));
  std::vector<int64_t> runs;
  for (const auto& p : found) runs.push_back(p.run_id);
  auto children = must(r->feedback_children(runs));
  for (const auto& p : found) {
    json meta = json::parse(p.artifact.metadata_json, nullptr, false);
    if (!meta.is_object()) meta = json::object();
    json j = {
        {"run", p.run_id},
        {"step", p.step},
        {"pipeline", p.pipeline},
        {"plugin", p.plugin_id},
        {"created_at", p.artifact.created_at},
        {"artifact", views::artifact_json(p.artifact)},
        {"drift", meta.value("drift", false)},
        {"triggers", meta.value("triggers", json::array())},
        {"reasons", meta.value("reasons", json::array())},
        {"requests", meta.value("requests", 0)},
        {"report", nullptr},
        {"feedback_runs", children.count(p.run_id) ? json(children[p.run_id]) : json::array()}};
    if (auto text = read_blob_file(o_.home, fs::path(p.artifact.uri) / "report.json", kMaxReport)) {
      auto rep = json::parse(*text, nullptr, false);
      if (!rep.is_discarded()) j["report"] = std::move(rep);
    }
    out["reports"].push_back(std::move(j));
  }
  return out;
}

}  // namespace llmops::ui
