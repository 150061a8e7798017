// BlobStore: content-addressed files and folders under <root>/sha256/<2 hex>/<62 hex>.
#include "store/blob_store.hpp"
#include "base/hash.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <functional>
#include <system_error>
#include <thread>

namespace llmops::store {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPrefix = "sha256:";

// The 64 hex characters of a digest given with or without "sha256:", or "" when malformed.
std::string digest_hex(const std::string& digest) {
  std::string hex = digest.rfind(kPrefix, 0) == 0 ? digest.substr(kPrefix.size()) : digest;
  if (hex.size() != 64) return {};
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c)))
      return {};
  }
  return hex;
}

// A name unique across processes and threads, inside the blob root so the final rename stays on
// one filesystem (and is therefore atomic).
fs::path temp_name(const fs::path& root) {
  static std::atomic<uint64_t> counter{0};
  size_t tid = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return root / "tmp" /
         ("seal-" + std::to_string(::getpid()) + "-" + std::to_string(tid % 1000000) + "-" +
          std::to_string(counter.fetch_add(1)));
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

}  // namespace

BlobStore::BlobStore(std::filesystem::path root) : root_(std::move(root)) {}

Result<SealedBlob> BlobStore::digest_of(const std::filesystem::path& src) const {
  std::error_code ec;
  fs::file_status st = fs::symlink_status(src, ec);
  if (ec || !fs::exists(st)) return Status::not_found("no such file or folder: " + src.string());
  SealedBlob blob;
  blob.path = src;
  if (fs::is_directory(st)) {
    Result<std::string> manifest = folder_manifest(src, &blob.size);
    if (!manifest) return manifest.status();
    blob.digest = std::string(kPrefix) + base::sha256_hex(*manifest);
    blob.is_dir = true;
  } else if (fs::is_regular_file(st)) {
    Result<std::string> hex = base::sha256_file_hex(src);
    if (!hex) return hex.status();
    blob.digest = std::string(kPrefix) + *hex;
    blob.size = static_cast<int64_t>(fs::file_size(src, ec));
    if (ec) return Status::internal("cannot stat " + src.string() + ": " + ec.message());
  } else {
    return Status::invalid(src.string() +
                           " is not a regular file or folder (symlinks and special files cannot be "
                           "stored as artifacts)");
  }
  return blob;
}

std::filesystem::path BlobStore::path_of(const std::string& digest) const {
  std::string hex = digest_hex(digest);
  if (hex.empty()) return root_ / "invalid-digest";
  return root_ / "sha256" / hex.substr(0, 2) / hex.substr(2);
}

bool BlobStore::exists(const std::string& digest) const {
  if (digest_hex(digest).empty()) return false;
  std::error_code ec;
  return fs::exists(path_of(digest), ec);
}

bool BlobStore::verify(const std::string& digest) const {
  if (!exists(digest)) return false;
  Result<SealedBlob> blob = digest_of(path_of(digest));
  return blob && blob->digest == std::string(kPrefix) + digest_hex(digest);
}

Result<SealedBlob> BlobStore::seal(const std::filesystem::path& src, bool move) {
  Result<SealedBlob> digested = digest_of(src);
  if (!digested) return digested.status();
  SealedBlob blob = std::move(digested).value();
  const fs::path final_path = path_of(blob.digest);
  blob.path = final_path;

  std::error_code ec;
  auto already_there = [&]() -> Result<SealedBlob> {
    if (move) remove_quietly(src);
    return blob;
  };
  if (fs::exists(final_path, ec)) return already_there();

  fs::create_directories(final_path.parent_path(), ec);
  if (ec)
    return Status::internal("cannot create " + final_path.parent_path().string() + ": " +
                            ec.message());
  fs::create_directories(root_ / "tmp", ec);
  if (ec)
    return Status::internal("cannot create " + (root_ / "tmp").string() + ": " + ec.message());

  // With move, renaming the source straight to its final name is atomic when on one filesystem.
  if (move && !blob.is_dir) {
    fs::rename(src, final_path, ec);  // a file replacing an equal file is harmless
    if (!ec) return blob;
  } else if (move) {
    fs::rename(src, final_path, ec);
    if (!ec) return blob;
    if (fs::exists(final_path)) return already_there();  // sealed concurrently by someone else
  }

  // Copy under a temporary name inside the root, then rename into place.
  const fs::path tmp = temp_name(root_);
  fs::copy(src, tmp, fs::copy_options::recursive, ec);
  if (ec) {
    remove_quietly(tmp);
    return Status::internal("cannot copy " + src.string() +
                            " into the blob store: " + ec.message());
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    remove_quietly(tmp);
    if (!fs::exists(final_path)) {
      return Status::internal("cannot rename " + tmp.string() + " to " + final_path.string() +
                              ": " + ec.message());
    }
  }
  if (move) remove_quietly(src);
  return blob;
}

}  // namespace llmops::store
