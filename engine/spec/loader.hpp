// Pipeline loading: YAML text -> PipelineSpec, with every problem the file alone can show.
//
// The loader checks what needs no plugin catalog: YAML syntax, apiVersion/kind/name, unknown and
// duplicate keys (with "did you mean"), types, durations, retries, executors, resources, params
// and `-p` overrides, `uses:` format, template syntax and self-dependencies. It also fills
// StepSpec::templates and adds the needs implied by references to other steps. Everything that
// needs the catalog or the whole graph is in engine/spec/validator.hpp.
//
// All problems are collected (never just the first); each Diagnostic carries FILE:LINE:COL
// (1-based). Stateless functions; thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/spec/pipeline.hpp"

namespace llmops::engine {

// What a pipeline may make the loader do. A pipeline is a small document; these stop a hostile or
// mistaken input (/dev/zero, a multi-gigabyte file, a YAML alias bomb, a self-referencing alias)
// with a clear error before it costs memory or time.
struct LoadLimits {
  // Bytes of YAML text (the file, or text already in memory). 1 MiB, or LLMOPS_MAX_PIPELINE_BYTES
  // (a size such as 4Mi) when set.
  size_t max_bytes = size_t{1} << 20;
  // YAML nodes (scalars, mappings, lists) counted with every alias expanded, as the loader walks
  // them: a few hundred bytes of aliases can stand for billions of nodes. max_bytes / 4 (262144
  // for 1 MiB): more than any text of max_bytes can hold without aliases.
  size_t max_nodes = size_t{1} << 18;
  // Mappings and lists inside each other.
  int max_depth = 100;
};
// The limits above, with LLMOPS_MAX_PIPELINE_BYTES applied (max_nodes follows max_bytes).
LoadLimits default_load_limits();

struct LoadResult {
  // Present whenever the text was YAML with a mapping at the top, even when there are errors
  // (so that validation can report more problems at once). Use it only when ok().
  std::optional<PipelineSpec> spec;
  std::vector<Diagnostic> diagnostics;
  bool ok() const;  // a spec and no error diagnostics (warnings are fine)
};

// `overrides` come from `-p key=value`: string values converted to the parameter's type
// (int, number, bool: true/false/yes/no/1/0, string, list/map: JSON or YAML flow text). An
// unknown key or a bad value is a diagnostic without a line (it is not in the file).
// With `require_params` false, a required parameter without a value is not an error (for tools
// that only look at the structure, or that reload a recorded run and set param_values
// themselves).
// Text over the limits is a diagnostic (at the position where a limit was crossed) and no spec.
LoadResult load_pipeline_text(const std::string& text, const std::string& file,
                              const std::map<std::string, std::string>& overrides = {},
                              bool require_params = true,
                              const LoadLimits& limits = default_load_limits());
// Reads a pipeline file whole, at most `max_bytes` of it: a larger file, or a FIFO or device that
// gives more, is refused without reading further. A FIFO is read (as a pipe from a process
// substitution is); a folder is refused. nullopt, with a diagnostic naming the file, when it
// cannot be read.
std::optional<std::string> read_pipeline_file(const std::filesystem::path& file,
                                              std::vector<Diagnostic>* diagnostics,
                                              size_t max_bytes = default_load_limits().max_bytes);
// Reads the file (an unreadable file is a diagnostic) and names it in messages as given.
LoadResult load_pipeline_file(const std::filesystem::path& file,
                              const std::map<std::string, std::string>& overrides = {},
                              bool require_params = true);

// Sorts diagnostics by position (stable; those without a line first).
void sort_diagnostics(std::vector<Diagnostic>& diagnostics);

// The candidate closest to `word` (Damerau-Levenshtein), if it is close enough to be a typo.
std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates);
// "; did you mean 'x'?" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// True when `constraint` is a well-formed semver range ("", "1.2.3", "^1.2", "~1", ">=1.0 <2").
bool semver_constraint_valid(const std::string& constraint);

// Parses "512Mi", "2Gi", "1G", "100k", "1024" into bytes. nullopt when malformed.
std::optional<int64_t> parse_size(const std::string& text);

}  // namespace llmops::engine
