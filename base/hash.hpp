// Hashing: sha256 of bytes and of files, as lowercase hex (OpenSSL's EVP underneath).
//
// The one hashing room of the project: the store uses it for blob digests and folder manifests,
// the engine for cache keys, pipeline digests and plugin library digests. Stateless; thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include "llmops/status.hpp"

namespace llmops::base {

// sha256 of `data` as 64 hex digits ("" only when OpenSSL fails).
std::string sha256_hex(const std::string& data);
// sha256 of a file's content, streamed in 1 MiB pieces.
Result<std::string> sha256_file_hex(const std::filesystem::path& file);

}  // namespace llmops::base
