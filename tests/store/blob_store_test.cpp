// BlobStore: digests of files and folders, sealing, verification.
#include <catch2/catch.hpp>

#include "base/hash.hpp"
#include "store/blob_store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using llmops::base::sha256_hex;
using llmops::store::BlobStore;
using llmops::store::testing::read_file;
using llmops::store::testing::TempDir;
using llmops::store::testing::write_file;

namespace {

void make_tree(const fs::path& root) {
  write_file(root / "config.json", "{\"layers\": 2}\n");
  write_file(root / "weights" / "a.bin", std::string(1000, 'a'));
  write_file(root / "weights" / "b.bin", "bbb");
  fs::create_directories(root / "empty");
}

}  // namespace

TEST_CASE("sha256 of known strings", "[blob]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("file digests match sha256 of the content", "[blob]") {
  TempDir tmp("blob");
  BlobStore blobs(tmp.path / "blobs");
  write_file(tmp.path / "f.txt", "abc");
  auto d = blobs.digest_of(tmp.path / "f.txt");
  REQUIRE(d);
  CHECK(d->digest == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(d->size == 3);
  CHECK_FALSE(d->is_dir);
}

TEST_CASE("equal trees in two places get the same folder digest", "[blob]") {
  TempDir tmp("blob");
  BlobStore blobs(tmp.path / "blobs");
  make_tree(tmp.path / "one");
  make_tree(tmp.path / "two" / "nested");
  auto a = blobs.digest_of(tmp.path / "one");
  auto b = blobs.digest_of(tmp.path / "two" / "nested");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->is_dir);
  CHECK(a->digest == b->digest);
  CHECK(a->size == 1000 + 3 + 14);

  // The digest is the sha256 of the documented manifest.
  int64_t size = 0;
  auto manifest = llmops::store::folder_manifest(tmp.path / "one", &size);
  REQUIRE(manifest);
  CHECK(manifest->rfind("llmops-manifest v1\n", 0) == 0);
  CHECK(manifest->find(" 3 weights/b.bin\n") != std::string::npos);
  CHECK(a->digest == "sha256:" + sha256_hex(*manifest));

  SECTION("one byte changed gives another digest") {
    write_file(tmp.path / "two" / "nested" / "weights" / "b.bin", "bbc");
    auto c = blobs.digest_of(tmp.path / "two" / "nested");
    REQUIRE(c);
    CHECK(c->digest != a->digest);
  }
  SECTION("a renamed file gives another digest") {
    fs::rename(tmp.path / "two" / "nested" / "config.json",
               tmp.path / "two" / "nested" / "config2.json");
    auto c = blobs.digest_of(tmp.path / "two" / "nested");
    REQUIRE(c);
    CHECK(c->digest != a->digest);
  }
}

TEST_CASE("seal stores files and folders atomically under their digest", "[blob]") {
  TempDir tmp("blob");
  BlobStore blobs(tmp.path / "blobs");

  SECTION("file, copied") {
    write_file(tmp.path / "f.txt", "hello");
    auto s = blobs.seal(tmp.path / "f.txt", /*move=*/false);
    REQUIRE(s);
    const std::string hex = sha256_hex("hello");
    CHECK(s->path == tmp.path / "blobs" / "sha256" / hex.substr(0, 2) / hex.substr(2));
    CHECK(s->path == blobs.path_of(s->digest));
    CHECK(read_file(s->path) == "hello");
    CHECK(fs::exists(tmp.path / "f.txt"));
    CHECK(blobs.exists(s->digest));
    CHECK(blobs.verify(s->digest));
  }
  SECTION("folder, moved; sealing the same content again is a no-op that removes the source") {
    make_tree(tmp.path / "out");
    auto s = blobs.seal(tmp.path / "out", /*move=*/true);
    REQUIRE(s);
    CHECK(s->is_dir);
    CHECK_FALSE(fs::exists(tmp.path / "out"));
    CHECK(read_file(s->path / "weights" / "b.bin") == "bbb");
    CHECK(blobs.verify(s->digest));

    make_tree(tmp.path / "again");
    auto again = blobs.seal(tmp.path / "again", /*move=*/true);
    REQUIRE(again);
    CHECK(again->digest == s->digest);
    CHECK_FALSE(fs::exists(tmp.path / "again"));
    CHECK(blobs.verify(s->digest));
  }
  SECTION("no temporary leftovers") {
    make_tree(tmp.path / "out");
    REQUIRE(blobs.seal(tmp.path / "out", false));
    REQUIRE(fs::exists(tmp.path / "blobs" / "tmp"));
    CHECK(fs::is_empty(tmp.path / "blobs" / "tmp"));
  }
}

TEST_CASE("verify detects tampering and missing blobs", "[blob]") {
  TempDir tmp("blob");
  BlobStore blobs(tmp.path / "blobs");
  write_file(tmp.path / "f.txt", "payload");
  make_tree(tmp.path / "dir");
  auto f = blobs.seal(tmp.path / "f.txt", true);
  auto d = blobs.seal(tmp.path / "dir", true);
  REQUIRE(f);
  REQUIRE(d);
  CHECK(blobs.verify(f->digest));
  CHECK(blobs.verify(d->digest));

  write_file(f->path, "pAyload");
  CHECK_FALSE(blobs.verify(f->digest));
  write_file(d->path / "weights" / "extra.bin", "x");
  CHECK_FALSE(blobs.verify(d->digest));

  const std::string missing = "sha256:" + sha256_hex("never stored");
  CHECK_FALSE(blobs.exists(missing));
  CHECK_FALSE(blobs.verify(missing));
  CHECK_FALSE(blobs.exists("sha256:nothex"));
}

TEST_CASE("digest_of rejects missing paths and symlinks", "[blob]") {
  TempDir tmp("blob");
  BlobStore blobs(tmp.path / "blobs");
  CHECK_FALSE(blobs.digest_of(tmp.path / "nope"));
  write_file(tmp.path / "dir" / "real.txt", "x");
  fs::create_symlink(tmp.path / "dir" / "real.txt", tmp.path / "dir" / "link.txt");
  auto r = blobs.digest_of(tmp.path / "dir");
  REQUIRE_FALSE(r);
  CHECK(r.status().message().find("link.txt") != std::string::npos);
}
