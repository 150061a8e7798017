// The parsed pipelines of recorded runs, by spec digest (the last 8): a 10,000-step YAML takes
// ~150 ms to parse, and the run page and the step panel of a run both need it. Thread-safe.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "engine/spec/loaded_pipeline.hpp"
#include "store/store.hpp"

namespace llmops::ui {

struct SpecCache {
  struct Entry {
    std::string digest;
    std::shared_ptr<const engine::LoadedPipeline> pipeline;
  };
  std::mutex mu;
  std::list<Entry> entries;  // most recent first, at most 8

  std::shared_ptr<const engine::LoadedPipeline> get(const store::RunInfo& r) {
    {
      std::lock_guard lock(mu);
      for (auto it = entries.begin(); it != entries.end(); ++it)
        if (it->digest == r.spec_digest) {
          entries.splice(entries.begin(), entries, it);
          return entries.front().pipeline;
        }
    }
    engine::LoadOptions lo;
    lo.require_params = false;
    auto p = std::make_shared<const engine::LoadedPipeline>(
        engine::LoadedPipeline::from_text(r.spec_text, r.pipeline_file, lo));
    std::lock_guard lock(mu);
    entries.push_front({r.spec_digest, p});
    if (entries.size() > 8) entries.pop_back();
    return p;
  }
};

}  // namespace llmops::ui
