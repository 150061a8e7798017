#include "engine/run/trigger_info.hpp"

namespace llmops::engine {

namespace {

nlohmann::json event_to_json(const store::Event& e) {
  const auto& a = e.artifact;
  return {{"role", e.role},
          {"digest", a.digest},
          {"kind", a.kind},
          {"name", a.name},
          {"uri", a.uri},
          {"size", a.size},
          {"metadata", a.metadata_json}};
}

store::Event event_from_json(const nlohmann::json& j) {
  store::Event e;
  e.role = j.value("role", "");
  e.artifact.digest = j.value("digest", "");
  e.artifact.kind = j.value("kind", "");
  e.artifact.name = j.value("name", "");
  e.artifact.uri = j.value("uri", "");
  e.artifact.size = j.value("size", int64_t(0));
  e.artifact.metadata_json = j.value("metadata", "{}");
  return e;
}

const char* const kOwned[] = {"kind",     "reason",       "step",         "payload",     "reenter",
                              "pipeline", "triggered_by", "upstream_run", "extra_inputs"};

}  // namespace

TriggerInfo trigger_info_from_json(const nlohmann::json& j) {
  TriggerInfo t;
  if (!j.is_object()) return t;
  t.kind = j.value("kind", "");
  t.reason = j.value("reason", "");
  t.step = j.value("step", "");
  if (j.contains("payload")) t.payload = j["payload"];
  t.reenter = j.value("reenter", "");
  t.pipeline = j.value("pipeline", "");
  t.triggered_by = j.value("triggered_by", "");
  if (j.contains("upstream_run") && j["upstream_run"].is_number_integer())
    t.upstream_run = j["upstream_run"].get<int64_t>();
  if (j.contains("extra_inputs") && j["extra_inputs"].is_object())
    for (const auto& [step, list] : j["extra_inputs"].items())
      if (list.is_array())
        for (const auto& a : list)
          if (a.is_object()) t.extra_inputs[step].push_back(event_from_json(a));
  for (const auto& [k, v] : j.items()) {
    bool owned = false;
    for (const char* o : kOwned) owned = owned || k == o;
    if (!owned) t.other[k] = v;
  }
  return t;
}

TriggerInfo TriggerInfo::parse(const std::string& json_text) {
  return trigger_info_from_json(nlohmann::json::parse(json_text, nullptr, false));
}

std::string TriggerInfo::dump() const {
  nlohmann::json j = other.is_object() ? other : nlohmann::json::object();
  if (!kind.empty()) {
    j["kind"] = kind;
    j["reason"] = reason;
    j["payload"] = payload;
    j["step"] = step;
  }
  if (!reenter.empty()) j["reenter"] = reenter;
  if (!extra_inputs.empty()) {
    nlohmann::json extra = nlohmann::json::object();
    for (const auto& [s, list] : extra_inputs) {
      extra[s] = nlohmann::json::array();
      for (const auto& e : list) extra[s].push_back(event_to_json(e));
    }
    j["extra_inputs"] = extra;
  }
  if (!pipeline.empty()) {
    j["pipeline"] = pipeline;
    j["triggered_by"] = triggered_by;
    j["upstream_run"] = upstream_run ? nlohmann::json(*upstream_run) : nlohmann::json();
  }
  return j.dump();
}

}  // namespace llmops::engine
