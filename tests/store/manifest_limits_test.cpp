// folder_manifest (store/manifest.cpp) on what a plugin may leave in an artifact folder: folders
// nested without end and more files than one artifact should hold are refused with a clear error
// instead of a manifest held in memory whole.
#include <catch2/catch.hpp>

#include "store/blob_store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using llmops::store::testing::TempDir;
using llmops::store::testing::write_file;

namespace llmops::store::detail {
// store/manifest.cpp: folder_manifest with its limits (1,000,000 files, 128 folders deep) given.
Result<std::string> folder_manifest_bounded(const std::filesystem::path& dir, int64_t* total_size,
                                            size_t max_files, int max_depth);
}  // namespace llmops::store::detail

TEST_CASE("folder_manifest refuses a folder nested too deep", "[blob][limits]") {
  TempDir tmp;
  fs::path p = tmp.path / "out";
  for (int i = 0; i < 130; ++i) p /= "d";
  write_file(p / "x.txt", "x");
  int64_t size = 0;
  auto m = llmops::store::folder_manifest(tmp.path / "out", &size);
  REQUIRE_FALSE(m.is_ok());
  CHECK_THAT(m.status().message(),
             Catch::Contains("is nested more than 128 folders deep in the artifact folder " +
                             (tmp.path / "out").string() +
                             ": flatten it, or pack it into one file (tar)"));

  fs::path ok = tmp.path / "ok";
  for (int i = 0; i < 100; ++i) ok /= "d";
  write_file(ok / "x.txt", "x");
  CHECK(llmops::store::folder_manifest(tmp.path / "ok", &size).is_ok());
  CHECK(size == 1);
}

TEST_CASE("folder_manifest refuses more files than one artifact holds", "[blob][limits]") {
  TempDir tmp;
  for (int i = 0; i < 11; ++i) write_file(tmp.path / "out" / (std::to_string(i) + ".txt"), "x");
  int64_t size = 0;
  auto m = llmops::store::detail::folder_manifest_bounded(tmp.path / "out", &size, 10, 128);
  REQUIRE_FALSE(m.is_ok());
  CHECK(m.status().message() == "the artifact folder " + (tmp.path / "out").string() +
                                    " holds more than 10 files (the limit of one artifact): pack "
                                    "them into fewer files (e.g. shards or a tar), or split the "
                                    "output");
  CHECK(llmops::store::detail::folder_manifest_bounded(tmp.path / "out", &size, 11, 128).is_ok());
  CHECK(size == 11);
}
