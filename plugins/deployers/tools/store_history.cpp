// Deployment changes made by `llmops deployments` in the store; see store_history.hpp.
#include "store_history.hpp"

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "deploy.hpp"
#include "llmops/artifacts.hpp"
#include "store/store.hpp"

namespace llmops::deployments {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A string field, or "" when absent or not a string (state files may hold nulls).
std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

std::string iso_time(double unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json entry_json(const store::DeploymentRecord& r) {
  auto info = json::parse(r.info_json, nullptr, false);
  if (!info.is_object()) info = json::object();
  json e = {{"time", iso_time(r.created_at)},
            {"action", r.action},
            {"actor", str(info, "actor")},
            {"user", str(info, "user")},
            {"from_version", str(info, "from_version")},
            {"to_version", str(info, "to_version")},
            {"state", r.state},
            {"artifact_digest", r.artifact_digest},
            {"run_id", r.run_id ? json(*r.run_id) : json(nullptr)},
            {"info", info}};
  // Rows the engine wrote for a deploy step carry the deployer's output metadata.
  if (e["to_version"] == "") e["to_version"] = str(info, "version");
  if (e["actor"] == "" && r.run_id) e["actor"] = "run:" + std::to_string(*r.run_id);
  return e;
}

}  // namespace

Status record_change(const std::string& action, const std::string& actor, const json& before,
                     const json& after, const json& extra) {
  auto st = store::Store::open(serve::llmops_home());
  if (!st) return st.status();
  store::DeploymentRecord d;
  // The row and its info as the engine records a deploy step's `deployment` artifact.
  namespace dep = llmops::deployment;
  d.name = str(after, dep::kName).empty() ? str(before, dep::kName) : str(after, dep::kName);
  d.action = action;
  d.state = str(after, "state");
  d.endpoint = str(after, dep::kEndpoint);
  d.artifact_digest = str(after, dep::kModelDigest);
  json info = {{dep::kName, d.name},
               {"actor", actor},
               {"user", serve::current_user()},
               {"from_version", str(before, "version")},
               {"to_version", str(after, "version")},
               {"from_digest", str(before, "model_digest")},
               {"to_digest", str(after, "model_digest")},
               {dep::kVersion, str(after, dep::kVersion)},
               {dep::kModelDigest, str(after, dep::kModelDigest)},
               {dep::kEndpoint, d.endpoint},
               {"pid", after.value("pid", int64_t{0})}};
  info.update(extra);
  d.info_json = info.dump();
  if ((*st)->record_deployment(d)) return Status::ok();
  // A model this store never saw as an artifact (served with `llmops serve`, or deployed from
  // another home): the row keeps its digest in info_json only, as the engine does.
  d.artifact_digest.clear();
  return (*st)->record_deployment(d);
}

Result<json> store_view(const std::string& name) {
  const auto home = serve::llmops_home();
  if (!fs::exists(home / "llmops.db")) return json(nullptr);
  auto st = store::Store::open(home);
  if (!st) return st.status();
  auto all = (*st)->list_deployments();
  if (!all) return all.status();
  auto hist = (*st)->deployment_history(name);
  if (!hist) return hist.status();
  json out = nullptr;
  for (const auto& d : *all) {
    if (d.name != name) continue;
    out = {{"state", d.state},
           {"endpoint", d.endpoint},
           {"artifact_digest", d.artifact_digest},
           {"run_id", d.run_id ? json(*d.run_id) : json(nullptr)},
           {"updated_at", iso_time(d.updated_at)}};
  }
  if (out.is_null() && hist->empty()) return out;
  if (out.is_null()) out = json::object();
  out["history"] = json::array();
  for (const auto& r : *hist) out["history"].push_back(entry_json(r));
  return out;
}

std::string history_line(const json& e) {
  std::string who = e.value("actor", "");
  if (!e.value("user", "").empty()) who += " (" + e.value("user", "") + ")";
  const std::string from = e.value("from_version", ""), to = e.value("to_version", "");
  std::string versions = to;
  if (!from.empty() && from != to) versions = from + " -> " + to;
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-20s  %-8s  %-28s  %s", e.value("time", "").c_str(),
                e.value("action", "").c_str(), who.c_str(), versions.c_str());
  return buf;
}

}  // namespace llmops::deployments
