// sha256 through OpenSSL's EVP interface instead of a hand-written hash: it is audited and fast.
#include "base/hash.hpp"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <memory>
#include <vector>

namespace llmops::base {
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

}  // namespace llmops::base
