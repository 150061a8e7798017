// BlobStore: content-addressed files and folders under <root>/sha256/<2 hex>/<62 hex>.
#include "store/blob_store.hpp"
#include "base/hash.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <vector>

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

std::string BlobStore::stamp(const fs::path& path) const {
  std::error_code ec;
  auto one = [](const fs::path& p, std::string& out) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return false;
    out += std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino) + ";";
    return true;
  };
  std::string out;
  if (!fs::is_directory(path, ec)) return one(path, out) ? out : std::string();
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) return {};
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    out += f.lexically_relative(path).string() + "=";
    if (!one(f, out)) return {};
  }
  return out;
}

void BlobStore::remember(const std::string& digest, const fs::path& path) {
  std::string s = stamp(path);
  std::lock_guard lock(memo_mu_);
  if (s.empty())
    verified_.erase(digest);
  else
    verified_[digest] = std::move(s);
}

BlobCheck BlobStore::check(const std::string& digest, int64_t size) {
  BlobCheck out;
  if (digest_hex(digest).empty()) {
    out.problem = "malformed digest";
    return out;
  }
  const fs::path path = path_of(digest);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    out.problem = "missing";
    return out;
  }
  const std::string now = stamp(path);
  {
    std::lock_guard lock(memo_mu_);
    auto it = verified_.find(digest);
    if (!now.empty() && it != verified_.end() && it->second == now) {
      out.ok = true;
      return out;
    }
  }
  // Sizes first: cheap, and enough to catch truncation and most damage.
  int64_t actual = 0;
  if (fs::is_directory(path, ec)) {
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) actual += static_cast<int64_t>(it->file_size(ec));
  } else {
    actual = static_cast<int64_t>(fs::file_size(path, ec));
  }
  if (ec) {
    out.problem = "unreadable: " + ec.message();
    return out;
  }
  if (size >= 0 && actual != size) {
    out.problem = "size " + std::to_string(actual) + " bytes, recorded " + std::to_string(size);
    return out;
  }
  if (actual > full_hash_limit_) {
    out.ok = true;  // too large to hash on every first use: sizes only (`llmops fsck` hashes it)
    return out;
  }
  out.hashed = true;
  Result<SealedBlob> again = digest_of(path);
  if (!again || again->digest != std::string(kPrefix) + digest_hex(digest)) {
    out.problem = again ? "content does not match its digest" : again.status().message();
    return out;
  }
  out.ok = true;
  std::lock_guard lock(memo_mu_);
  verified_[digest] = now;
  return out;
}

Result<std::vector<std::string>> BlobStore::stored_digests(std::vector<fs::path>* strays) const {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path top = root_ / "sha256";
  if (!fs::exists(top, ec)) return out;
  for (fs::directory_iterator d(top, ec), end; !ec && d != end; d.increment(ec)) {
    const std::string prefix = d->path().filename().string();
    if (!d->is_directory(ec) || prefix.size() != 2) {
      if (strays) strays->push_back(d->path());
      continue;
    }
    for (fs::directory_iterator b(d->path(), ec); !ec && b != end; b.increment(ec)) {
      const std::string digest = std::string(kPrefix) + prefix + b->path().filename().string();
      if (digest_hex(digest).empty()) {
        if (strays) strays->push_back(b->path());
        continue;
      }
      out.push_back(digest);
    }
  }
  if (ec) return Status::internal("cannot list " + top.string() + ": " + ec.message());
  if (strays && fs::exists(root_ / "tmp", ec))
    for (fs::directory_iterator t(root_ / "tmp", ec), end; !ec && t != end; t.increment(ec))
      strays->push_back(t->path());
  std::sort(out.begin(), out.end());
  return out;
}

Result<fs::path> BlobStore::quarantine(const std::string& digest) {
  const std::string hex = digest_hex(digest);
  if (hex.empty()) return Status::invalid("malformed digest " + digest);
  {
    std::lock_guard lock(memo_mu_);
    verified_.erase(digest);
  }
  std::error_code ec;
  const fs::path dir = root_ / "quarantine";
  fs::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir.string() + ": " + ec.message());
  const fs::path to = dir / (hex + "." + std::to_string(static_cast<long long>(::time(nullptr))) +
                             "." + std::to_string(::getpid()));
  fs::rename(path_of(digest), to, ec);
  if (ec)
    return Status::internal("cannot move " + path_of(digest).string() + " to " + to.string() +
                            ": " + ec.message());
  return to;
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
  if (fs::exists(final_path, ec)) {
    // The same content sealed before: unless those bytes have changed since, in which case the
    // good bytes in hand replace them (the bad ones are kept aside for inspection).
    BlobCheck there = check(blob.digest, blob.size);
    if (there.ok) return already_there();
    Result<fs::path> moved = quarantine(blob.digest);
    if (!moved) return moved.status();
    blob.replaced_problem = there.problem;
    blob.replaced_to = moved.value();
  }

  fs::create_directories(final_path.parent_path(), ec);
  if (ec)
    return Status::internal("cannot create " + final_path.parent_path().string() + ": " +
                            ec.message());
  fs::create_directories(root_ / "tmp", ec);
  if (ec)
    return Status::internal("cannot create " + (root_ / "tmp").string() + ": " + ec.message());

  // With move, renaming the source straight to its final name is atomic when on one filesystem.
  auto placed = [&]() -> Result<SealedBlob> {
    remember(blob.digest, final_path);  // its bytes are the ones just hashed
    return blob;
  };
  if (move && !blob.is_dir) {
    fs::rename(src, final_path, ec);  // a file replacing an equal file is harmless
    if (!ec) return placed();
  } else if (move) {
    fs::rename(src, final_path, ec);
    if (!ec) return placed();
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
  return placed();
}

}  // namespace llmops::store
