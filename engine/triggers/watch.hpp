// Watch triggers: the files a `watch:` schedule entry names (globs) and the digest of what they
// hold, so the scheduler can tell "new data arrived" from "nothing changed".
//
// Glob grammar, per path component (split on '/'): `*` any run of characters, `?` one character,
// `[abc]`, `[a-z]`, `[!a]` a class, `\` escapes the next character (fnmatch(3) rules); a name
// starting with '.' is matched only by a pattern component starting with '.'; a component `**`
// matches any number of folders (zero included; folder symlinks are not followed under it). The
// last component names files: only regular files (or symlinks to them) match. A relative glob is
// taken from a base folder (the scheduler's working folder) and the matched paths are reported
// relative to it, as the glob was written.
//
// The digest of a snapshot is sha256 over the sorted lines "PATH\0SHA256-OF-CONTENT\n", so it
// changes when a file appears, disappears, is renamed or changes content, and not when a file is
// merely touched. A DigestCache keeps each file's content hash keyed by (size, mtime, ctime,
// inode), so a poll re-reads only the files that changed.
// Thread safety: check_glob/expand_glob are pure; a DigestCache is not synchronised.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/spec/schedule.hpp"
#include "llmops/status.hpp"

namespace llmops::engine {

// Checks one glob. On error returns Status::invalid saying what is wrong and sets `*error_offset`
// (when given) to the 0-based offset of the offending character in `glob`.
Status check_glob(const std::string& glob, size_t* error_offset = nullptr);

// The regular files matching `glob` (a checked glob), sorted. `limit` bounds how many: beyond it
// the result is an error (a glob that matches a whole disk is a mistake, not a data set).
Result<std::vector<std::string>> expand_glob(const std::string& glob,
                                             const std::filesystem::path& base,
                                             size_t limit = 100000);

struct WatchedFile {
  std::string path;  // as matched: relative to the base for a relative glob
  int64_t size = 0;
  std::string sha256;  // hex, of the content
};

struct WatchSnapshot {
  std::string digest;              // "sha256:<hex>" of the sorted (path, content) list; see above
  std::vector<WatchedFile> files;  // sorted by path, no duplicates
};

class DigestCache {
 public:
  // sha256 hex of the file's content, re-read only when its stat stamp changed.
  Result<std::string> sha256_of(const std::filesystem::path& file, int64_t* size);
  // Forgets files not looked at since the previous call (bounded memory across polls).
  void sweep();

 private:
  struct Stamp {
    int64_t size = -1, mtime_ns = 0, ctime_ns = 0, inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct Entry {
    Stamp stamp;
    std::string sha256;
    bool seen = false;
  };
  std::map<std::string, Entry> entries_;
};

// Expands every glob of `watch` from `base` and digests the files they match (together).
Result<WatchSnapshot> snapshot_watch(const WatchSpec& watch, const std::filesystem::path& base,
                                     DigestCache& cache);

}  // namespace llmops::engine
