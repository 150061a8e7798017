// sha256 helpers and the folder manifest (see blob_store.hpp for the format).
// OpenSSL's EVP interface is used instead of a hand-written hash: it is audited and fast.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "store/blob_store.hpp"

namespace llmops::store {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx new_sha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) ctx.reset();
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md.data(), &len) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  MdCtx ctx = new_sha256();
  if (!ctx || EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1) return {};
  return finish_hex(ctx.get());
}

Result<std::string> sha256_file_hex(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + file.string() + " for hashing");
  MdCtx ctx = new_sha256();
  if (!ctx) return Status::internal("OpenSSL: cannot create a sha256 context");
  // One buffer per thread: zero-filling a fresh 1 MiB buffer per file cost more than hashing
  // the small files most steps write.
  thread_local std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) != 1) {
      return Status::internal("OpenSSL: sha256 update failed");
    }
  }
  if (in.bad()) return Status::internal("read error while hashing " + file.string());
  std::string hex = finish_hex(ctx.get());
  if (hex.empty()) return Status::internal("OpenSSL: sha256 final failed");
  return hex;
}

Result<std::string> folder_manifest(const std::filesystem::path& dir, int64_t* total_size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::not_found(dir.string() + " is not a folder");
  std::vector<std::pair<std::string, fs::path>> files;  // relative (generic) path, full path
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::internal("cannot list " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::internal("cannot list " + dir.string() + ": " + ec.message());
    const fs::directory_entry& entry = *it;
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
    files.emplace_back(std::move(rel), entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string manifest = "llmops-manifest v1\n";
  int64_t total = 0;
  for (const auto& [rel, full] : files) {
    Result<std::string> hex = sha256_file_hex(full);
    if (!hex) return hex.status();
    int64_t size = static_cast<int64_t>(fs::file_size(full, ec));
    if (ec) return Status::internal("cannot stat " + full.string() + ": " + ec.message());
    total += size;
    manifest += *hex + " " + std::to_string(size) + " " + rel + "\n";
  }
  if (total_size) *total_size = total;
  return manifest;
}

}  // namespace llmops::store
