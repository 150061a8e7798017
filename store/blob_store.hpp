// BlobStore: content-addressed storage of artifacts beside the database.
//
// Layout: <root>/sha256/<2 hex>/<62 hex>, a file or a folder. A folder's digest is the sha256 of
// its manifest (format "llmops-manifest v1", then one line per regular file sorted by relative
// path: "<sha256 hex> <size> <relative path>"), so equal trees get equal digests on any machine.
// Sealing moves (or copies) the source into place atomically via a temporary name + rename, so a
// killed process never leaves a half-written blob under a final name.
// Thread safety: distinct digests may be sealed concurrently; sealing the same content twice is
// harmless (the second finds it in place).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "llmops/status.hpp"

namespace llmops::store {

struct SealedBlob {
  std::string digest;  // "sha256:<hex>"
  std::filesystem::path path;
  int64_t size = 0;  // bytes (sum of files for a folder)
  bool is_dir = false;
};

// Manifest text of a folder (see above) and its total size.
Result<std::string> folder_manifest(const std::filesystem::path& dir, int64_t* total_size);

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // Digest and size of a file or folder without storing it.
  Result<SealedBlob> digest_of(const std::filesystem::path& src) const;
  // Stores `src` (file or folder) and returns where it now lives. With `move`, src is renamed
  // into place when on the same filesystem (else copied, then removed).
  Result<SealedBlob> seal(const std::filesystem::path& src, bool move);
  std::filesystem::path path_of(const std::string& digest) const;
  bool exists(const std::string& digest) const;
  // Recomputes the digest of the stored blob; false when missing or changed.
  bool verify(const std::string& digest) const;

 private:
  std::filesystem::path root_;
};

}  // namespace llmops::store
