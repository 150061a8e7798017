// LoadedPipeline: one pipeline file, read once and parsed once.
//
// Holds the exact text that was validated (it is what a run records, so `resume` runs what was
// checked), its digest, the spec with the position of every node, the typed `feedback:` rules
// and every problem found. With a plugin catalog in the options it is also validated against the
// installed plugins (what `llmops validate` and `llmops run` do); without one only the file alone
// is checked (what `resume` does with a recorded text, and what `graph` needs).
// `llmops run`, `resume`, the scheduler and the feedback loop all get their pipeline from here.
// Immutable once made; share it as std::shared_ptr<const LoadedPipeline>.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/plugins/plugin_info.hpp"
#include "engine/spec/feedback_rules.hpp"
#include "engine/spec/pipeline.hpp"

namespace llmops::engine {

struct LoadOptions {
  std::map<std::string, std::string> overrides;  // `-p key=value`
  // False: a required parameter without a value is no error (a recorded run sets its values).
  bool require_params = true;
  // When set, the spec is validated against these plugins too (engine/spec/validator.hpp).
  const PluginCatalog* catalog = nullptr;
};

struct LoadedPipeline {
  std::string file;    // as given, for messages and for the run record
  std::string text;    // the bytes that were parsed
  std::string digest;  // "sha256:<hex>" of text
  // Present when the text was YAML with a mapping at the top, even with errors (use when ok()).
  std::optional<PipelineSpec> spec;
  std::vector<FeedbackRule> feedback;   // typed `feedback:` rules (empty when absent)
  std::vector<Diagnostic> diagnostics;  // sorted by position

  bool ok() const;  // a spec and no error diagnostics (warnings are fine)

  // Reads `file` once (an unreadable file is a diagnostic) and loads it.
  static LoadedPipeline from_file(const std::filesystem::path& file, const LoadOptions& options);
  // Loads text already in memory (a recorded run); `file` names it in messages.
  static LoadedPipeline from_text(std::string text, std::string file, const LoadOptions& options);
};

// `errors` joined as "\n  FILE:LINE:COL: error: ..." lines (warnings left out).
std::string error_lines(const std::vector<Diagnostic>& diagnostics);

}  // namespace llmops::engine
