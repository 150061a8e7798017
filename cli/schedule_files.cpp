#include "cli/schedule_files.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/hash.hpp"
#include "store/blob_store.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {

Result<std::vector<ScheduleFile>> load_schedule_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::not_found("no such folder: " + dir.string() + " (give one with --dir)");
  }
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension();
    if (e.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml")) paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<ScheduleFile> out;
  for (const auto& p : paths) {
    ScheduleFile f;
    f.path = p;
    // Bounded like any pipeline file: a huge file or a FIFO in the folder is a diagnostic.
    std::vector<engine::Diagnostic> read_errors;
    auto text = engine::read_pipeline_file(p, &read_errors);
    if (!text) {
      f.ok = false;
      f.diagnostics = std::move(read_errors);
      out.push_back(std::move(f));
      continue;
    }
    f.text = std::move(*text);
    f.text_digest = base::sha256_hex(f.text);
    auto r = engine::load_pipeline_text(f.text, p.string(), {}, false);
    f.ok = r.ok();
    f.spec = std::move(r.spec);
    f.diagnostics = std::move(r.diagnostics);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace llmops::cli
