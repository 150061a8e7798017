// The pipelines of a folder, loaded for their `schedule:` blocks (`schedule list`, `scheduler`).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/spec/loader.hpp"
#include "llmops/status.hpp"

namespace llmops::cli {

struct ScheduleFile {
  std::filesystem::path path;
  std::string text;
  std::string text_digest;  // sha256 of the text: a change means reload
  bool ok = false;          // loaded without errors
  std::optional<engine::PipelineSpec> spec;
  std::vector<engine::Diagnostic> diagnostics;
};

// Every *.yaml / *.yml directly in `dir`, sorted by name. Required parameters need no value here
// (a schedule's params or the pipeline's defaults give them when a run starts).
Result<std::vector<ScheduleFile>> load_schedule_files(const std::filesystem::path& dir);

}  // namespace llmops::cli
