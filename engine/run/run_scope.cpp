#include "engine/run/run_scope.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

std::optional<nlohmann::json> descend(const nlohmann::json& root,
                                      const std::vector<std::string>& path, size_t from) {
  const nlohmann::json* cur = &root;
  for (size_t i = from; i < path.size(); ++i) {
    if (cur->is_object()) {
      auto it = cur->find(path[i]);
      if (it == cur->end()) return std::nullopt;
      cur = &*it;
    } else if (cur->is_array()) {
      char* end = nullptr;
      const long idx = std::strtol(path[i].c_str(), &end, 10);
      if (*end || idx < 0 || static_cast<size_t>(idx) >= cur->size()) return std::nullopt;
      cur = &(*cur)[idx];
    } else {
      return std::nullopt;
    }
  }
  return *cur;
}

std::optional<nlohmann::json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

std::optional<nlohmann::json> artifact_field(const store::Artifact& a,
                                             const std::vector<std::string>& path) {
  auto meta =
      nlohmann::json::parse(a.metadata_json.empty() ? "{}" : a.metadata_json, nullptr, false);
  if (!meta.is_discarded())
    if (auto v = descend(meta, path, 0)) return v;
  std::error_code ec;
  fs::path file = a.uri;
  if (fs::is_directory(file, ec)) {
    fs::path only;
    int n = 0;
    for (const auto& e : fs::directory_iterator(file, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") {
        only = e.path();
        ++n;
      }
    if (n != 1) return std::nullopt;
    file = only;
  }
  if (auto j = read_json_file(file)) return descend(*j, path, 0);
  return std::nullopt;
}

const StepOutcomeView* RunScope::find_step(const std::string& name) const {
  auto it = steps_.find(name);
  return it == steps_.end() ? nullptr : &it->second;
}

std::optional<nlohmann::json> RunScope::lookup(const std::vector<std::string>& path) const {
  if (path.empty()) return std::nullopt;
  const auto& head = path[0];
  if (head == "params") {
    if (path.size() < 2) return params_;
    return descend(params_, path, 1);
  }
  if (head == "env" && path.size() == 2) {
    const char* v = std::getenv(path[1].c_str());
    if (!v) return std::nullopt;
    return nlohmann::json(v);
  }
  if (head == "run" && path.size() == 2) {
    if (path[1] == "id") return nlohmann::json(run_id_);
    if (path[1] == "cycle") return nlohmann::json(cycle_);
    return std::nullopt;
  }
  if (head == "steps" && path.size() >= 3) {
    const auto* s = find_step(path[1]);
    if (!s) return std::nullopt;
    if (path[2] == "state" && path.size() == 3) return nlohmann::json(to_string(s->state));
    if (path.size() < 4) return std::nullopt;
    if (path[2] == "metrics" && path.size() == 4) {
      auto it = s->metrics.find(path[3]);
      if (it == s->metrics.end()) return std::nullopt;
      return nlohmann::json(it->second);
    }
    if (path[2] == "outputs") {
      auto it = s->outputs.find(path[3]);
      if (it == s->outputs.end()) return std::nullopt;
      if (path.size() == 4) return nlohmann::json(it->second.uri);
      std::vector<std::string> rest(path.begin() + 4, path.end());
      if (rest.size() == 1 && rest[0] == "digest") return nlohmann::json(it->second.digest);
      if (rest.size() == 1 && rest[0] == "path") return nlohmann::json(it->second.uri);
      return artifact_field(it->second, rest);
    }
  }
  return std::nullopt;
}

}  // namespace llmops::engine
