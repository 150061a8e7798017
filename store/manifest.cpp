// The folder manifest (see blob_store.hpp for the format).
#include <algorithm>
#include <system_error>
#include <utility>
#include <vector>

#include "base/hash.hpp"
#include "store/blob_store.hpp"

namespace llmops::store {

// An artifact folder is what a plugin wrote: its manifest (one line per file, held in memory and
// hashed) is bounded in files and in nesting, with an error that says what to do.
inline constexpr size_t kMaxManifestFiles = 1'000'000;
inline constexpr int kMaxManifestDepth = 128;

namespace detail {

// folder_manifest with its limits as arguments (tests give small ones).
Result<std::string> folder_manifest_bounded(const std::filesystem::path& dir, int64_t* total_size,
                                            size_t max_files, int max_depth) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::not_found(dir.string() + " is not a folder");
  std::vector<std::pair<std::string, fs::path>> files;  // relative (generic) path, full path
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::internal("cannot list " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::internal("cannot list " + dir.string() + ": " + ec.message());
    const fs::directory_entry& entry = *it;
    if (it.depth() >= max_depth) {
      return Status::invalid(entry.path().string() + " is nested more than " +
                             std::to_string(max_depth) + " folders deep in the artifact folder " +
                             dir.string() + ": flatten it, or pack it into one file (tar)");
    }
    fs::file_status st = entry.symlink_status(ec);
    if (ec) return Status::internal("cannot stat " + entry.path().string() + ": " + ec.message());
    if (fs::is_directory(st)) continue;
    // Symlinks and special files would make the digest depend on things outside the tree.
    if (!fs::is_regular_file(st)) {
      return Status::invalid(entry.path().string() +
                             " is not a regular file or folder (symlinks and special files cannot "
                             "be stored as artifacts)");
    }
    std::string rel = entry.path().lexically_relative(dir).generic_string();
    if (rel.find('\n') != std::string::npos) {
      return Status::invalid("file name with a newline cannot be stored: " + entry.path().string());
    }
    if (files.size() >= max_files) {
      return Status::invalid("the artifact folder " + dir.string() + " holds more than " +
                             std::to_string(max_files) +
                             " files (the limit of one artifact): pack them into fewer files "
                             "(e.g. shards or a tar), or split the output");
    }
    files.emplace_back(std::move(rel), entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string manifest = "llmops-manifest v1\n";
  int64_t total = 0;
  for (const auto& [rel, full] : files) {
    Result<std::string> hex = base::sha256_file_hex(full);
    if (!hex) return hex.status();
    int64_t size = static_cast<int64_t>(fs::file_size(full, ec));
    if (ec) return Status::internal("cannot stat " + full.string() + ": " + ec.message());
    total += size;
    manifest += *hex + " " + std::to_string(size) + " " + rel + "\n";
  }
  if (total_size) *total_size = total;
  return manifest;
}

}  // namespace detail

Result<std::string> folder_manifest(const std::filesystem::path& dir, int64_t* total_size) {
  return detail::folder_manifest_bounded(dir, total_size, kMaxManifestFiles, kMaxManifestDepth);
}

}  // namespace llmops::store
