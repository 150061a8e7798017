// ListCatalog: a PluginCatalog over a list of descriptors given by the test; nothing is loaded.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/plugins/plugin_info.hpp"

namespace llmops::testing {

class ListCatalog : public engine::PluginCatalog {
 public:
  void add(engine::PluginInfo p) { plugins_.push_back(std::move(p)); }
  const engine::PluginInfo* find(const std::string& id,
                                 const std::string& constraint) const override {
    for (const auto& p : plugins_)
      if (p.id == id && engine::semver_satisfies(p.version, constraint)) return &p;
    return nullptr;
  }
  std::vector<std::string> ids() const override {
    std::vector<std::string> out;
    for (const auto& p : plugins_) out.push_back(p.id);
    return out;
  }

 private:
  std::vector<engine::PluginInfo> plugins_;
};

}  // namespace llmops::testing
