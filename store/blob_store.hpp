// BlobStore: content-addressed storage of artifacts beside the database.
//
// Layout: <root>/sha256/<2 hex>/<62 hex>, a file or a folder. A folder's digest is the sha256 of
// its manifest (format "llmops-manifest v1", then one line per regular file sorted by relative
// path: "<sha256 hex> <size> <relative path>"), so equal trees get equal digests on any machine.
// Sealing moves (or copies) the source into place atomically via a temporary name + rename, so a
// killed process never leaves a half-written blob under a final name.
// Thread safety: distinct digests may be sealed concurrently; sealing the same content twice is
// harmless (the second finds it in place, checks it, and replaces it when it no longer matches).
// Blobs are verified, not trusted: see check() for what is checked when, and why.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::store {

struct SealedBlob {
  std::string digest;  // "sha256:<hex>"
  std::filesystem::path path;
  int64_t size = 0;  // bytes (sum of files for a folder)
  bool is_dir = false;
  // Set when a copy already under this digest did not match it: what was wrong and where the
  // bad bytes were moved (the new, good bytes took their place).
  std::string replaced_problem;
  std::filesystem::path replaced_to;
};

// What check() found.
struct BlobCheck {
  bool ok = false;
  std::string problem;  // "missing", "size 10 != 12", "content does not match its digest"
  bool hashed = false;  // whether the content was hashed (else sizes and stamps only)
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

  // The check made before a blob is handed to a step. Cheap on every use: the blob exists and,
  // when `size` >= 0, its size is the recorded one. The content is hashed the first time this
  // process sees the blob (or sees it changed: file sizes, mtimes or inodes differ from when it
  // was sealed or last hashed here), unless it is larger than full_hash_limit(), where sizes and
  // stamps are all that is compared. Thread-safe.
  BlobCheck check(const std::string& digest, int64_t size = -1);
  int64_t full_hash_limit() const { return full_hash_limit_; }
  void set_full_hash_limit(int64_t bytes) { full_hash_limit_ = bytes; }
  // Every digest stored ("sha256:<hex>"), and the entries under the root that are not blobs
  // (temporary copies left by a killed process, stray files), for `llmops fsck`.
  Result<std::vector<std::string>> stored_digests(std::vector<std::filesystem::path>* strays) const;
  // Moves a bad blob out of the way, to <root>/quarantine/<hex>.<unix time>; returns where.
  Result<std::filesystem::path> quarantine(const std::string& digest);

 private:
  // Sizes, mtimes and inodes of a blob's files, as one string ("" when it cannot be read).
  std::string stamp(const std::filesystem::path& path) const;
  void remember(const std::string& digest, const std::filesystem::path& path);

  std::filesystem::path root_;
  int64_t full_hash_limit_ = int64_t(1) << 30;  // 1 GiB: a few seconds of hashing, once
  std::mutex memo_mu_;
  std::unordered_map<std::string, std::string> verified_;  // digest -> stamp when last verified
};

}  // namespace llmops::store
