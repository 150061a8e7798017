#include "engine/spec/loaded_pipeline.hpp"

#include "base/hash.hpp"
#include "engine/spec/loader.hpp"
#include "engine/spec/validator.hpp"

namespace llmops::engine {

bool LoadedPipeline::ok() const {
  if (!spec) return false;
  for (const auto& d : diagnostics)
    if (!d.warning) return false;
  return true;
}

LoadedPipeline LoadedPipeline::from_file(const std::filesystem::path& file,
                                         const LoadOptions& options) {
  LoadedPipeline out;
  auto text = read_pipeline_file(file, &out.diagnostics);
  if (!text) {
    out.file = file.string();
    return out;
  }
  return from_text(std::move(*text), file.string(), options);
}

LoadedPipeline LoadedPipeline::from_text(std::string text, std::string file,
                                         const LoadOptions& options) {
  LoadedPipeline out;
  out.file = std::move(file);
  out.text = std::move(text);
  out.digest = "sha256:" + base::sha256_hex(out.text);
  LoadResult r = load_pipeline_text(out.text, out.file, options.overrides, options.require_params);
  out.diagnostics = std::move(r.diagnostics);
  out.spec = std::move(r.spec);
  if (out.spec) {
    if (options.catalog) {
      auto more = validate_pipeline(*out.spec, *options.catalog);
      out.diagnostics.insert(out.diagnostics.end(), more.begin(), more.end());
    }
    out.feedback = parse_feedback(*out.spec, &out.diagnostics);
  }
  sort_diagnostics(out.diagnostics);
  return out;
}

std::string error_lines(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics)
    if (!d.warning) out += "\n  " + d.str();
  return out;
}

}  // namespace llmops::engine
