// Watch triggers: glob checking (with the offset of the mistake), expansion, and the digest that
// tells new data from unchanged data (engine/triggers/watch.hpp).
#include <catch2/catch.hpp>

#include "daemon_fixture.hpp"
#include "engine/triggers/watch.hpp"

using namespace llmops::engine;
using llmops::Status;
using llmops::testing::TempFolder;
using V = std::vector<std::string>;

namespace {

size_t bad_at(const std::string& glob) {
  size_t off = 12345;
  Status s = check_glob(glob, &off);
  INFO(glob);
  REQUIRE_FALSE(s.is_ok());
  return off;
}

}  // namespace

TEST_CASE("check_glob accepts the usual forms and points at mistakes", "[watch][glob]") {
  for (const char* ok : {"data/incoming/*.jsonl", "/abs/path/file.txt", "data/**/*.csv", "**/x",
                         "a/[!.]*.txt", "a/[]x]y", "a\\[1\\].txt", "./rel/?.json"}) {
    INFO(ok);
    CHECK(check_glob(ok).is_ok());
  }
  CHECK(bad_at("") == 0);
  CHECK(bad_at("data/") == 4);
  CHECK(bad_at("data/in[coming/*.jsonl") == 7);
  CHECK(bad_at("data/a**/x") == 6);
  CHECK(bad_at("data/**") == 5);
  CHECK(bad_at("data/x\\") == 6);
  CHECK(check_glob("data/in[coming").message().find("unclosed '['") != std::string::npos);
}

TEST_CASE("expand_glob matches files and not folders: ** spans folders and dot files need a dot",
          "[watch][glob]") {
  TempFolder t;
  for (const char* f : {"in/a.jsonl", "in/b.jsonl", "in/.hidden.jsonl", "in/c.txt",
                        "in/sub/d.jsonl", "in/sub/deep/e.jsonl", "in/dir.jsonl/f"}) {
    t.write(f, "x");
  }
  auto flat = expand_glob("in/*.jsonl", t.path());
  REQUIRE(flat);
  CHECK(*flat == V{"in/a.jsonl", "in/b.jsonl"});  // not the folder dir.jsonl, not .hidden
  auto deep = expand_glob("in/**/*.jsonl", t.path());
  REQUIRE(deep);
  CHECK(*deep == V{"in/a.jsonl", "in/b.jsonl", "in/sub/d.jsonl", "in/sub/deep/e.jsonl"});
  auto dots = expand_glob("in/.*.jsonl", t.path());
  REQUIRE(dots);
  CHECK(*dots == V{"in/.hidden.jsonl"});
  auto literal = expand_glob("in/c.txt", t.path());
  REQUIRE(literal);
  CHECK(*literal == V{"in/c.txt"});
  auto absolute = expand_glob((t.path() / "in/[ab].jsonl").string(), "/nonexistent");
  REQUIRE(absolute);
  CHECK(*absolute == V{(t.path() / "in/a.jsonl").string(), (t.path() / "in/b.jsonl").string()});
  auto none = expand_glob("missing/*.jsonl", t.path());
  REQUIRE(none);
  CHECK(none->empty());
  auto capped = expand_glob("in/**/*", t.path(), 3);
  CHECK_FALSE(capped.is_ok());
}

TEST_CASE("the watch digest changes with the set and the content, not with a touch",
          "[watch][digest]") {
  TempFolder t;
  WatchSpec w;
  w.globs = {"in/*.jsonl"};
  DigestCache cache;
  auto digest = [&] {
    auto s = snapshot_watch(w, t.path(), cache);
    REQUIRE(s);
    return *s;
  };
  const auto empty = digest();
  CHECK(empty.files.empty());
  t.write("in/a.jsonl", "{\"q\": 1}\n");
  const auto one = digest();
  CHECK(one.digest != empty.digest);
  REQUIRE(one.files.size() == 1);
  CHECK(one.files[0].path == "in/a.jsonl");
  CHECK(one.files[0].size == 9);
  CHECK(digest().digest == one.digest);   // unchanged
  t.write("in/a.jsonl", "{\"q\": 1}\n");  // rewritten with the same content
  CHECK(digest().digest == one.digest);
  t.write("in/a.jsonl", "{\"q\": 22}\n");  // new content
  const auto changed = digest();
  CHECK(changed.digest != one.digest);
  t.write("in/b.jsonl", "{\"q\": 3}\n");  // a new file
  const auto two = digest();
  CHECK(two.digest != changed.digest);
  CHECK(two.files.size() == 2);
  std::filesystem::rename(t.path() / "in/b.jsonl", t.path() / "in/c.jsonl");  // a rename
  CHECK(digest().digest != two.digest);
  // Two globs matching the same file count it once.
  w.globs = {"in/*.jsonl", "in/a.*"};
  CHECK(digest().files.size() == 2);
}
