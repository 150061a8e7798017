// Integration: blobs are verified, not trusted. A damaged blob is never handed to a step: it is
// quarantined, recorded, and the step that made it runs again (a fresh run, a cache lookup or a
// resume); `llmops fsck` checks and repairs the whole store.
#include <catch2/catch.hpp>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

constexpr char kPair[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: pair
steps:
  a:
    uses: testing/write
    with: {text: alpha}
  c:
    uses: testing/concat
    inputs: {x: "${{ steps.a.outputs.out }}"}
)";

// The file of a blob (a file artifact) or of its first file (a folder artifact).
fs::path blob_file(const fs::path& uri) {
  if (!fs::is_directory(uri)) return uri;
  for (const auto& e : fs::recursive_directory_iterator(uri))
    if (e.is_regular_file()) return e.path();
  return {};
}

// Overwrites a blob's bytes in place, keeping its size (what a disk error or a stray edit does).
void damage(const fs::path& uri) {
  const auto f = blob_file(uri);
  std::string bytes = slurp(f);
  REQUIRE_FALSE(bytes.empty());
  for (auto& ch : bytes) ch = ch == 'X' ? 'Y' : 'X';
  std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_CASE("a damaged blob is replaced when its step runs again", "[integration][integrity]") {
  TempHome t;
  const auto file = t.write("pair.yaml", kPair);
  REQUIRE(run_cli(t, {"run", file.string()}).exit_code == 0);
  const auto a = output_of(show_json(t, 1), "a");
  const fs::path uri = a["uri"].get<std::string>();
  damage(uri);

  // Run 2 with the cache: the hit is refused (damaged), a runs again and its bytes replace the
  // damaged ones; c reads the right content.
  auto r2 = run_cli(t, {"run", file.string()});
  INFO(r2.out << r2.err);
  REQUIRE(r2.exit_code == 0);
  auto show2 = show_json(t, 2);
  CHECK(step_of(show2, "a")["state"] == "succeeded");  // not cached
  CHECK(output_of(show2, "a")["digest"] == a["digest"]);
  CHECK(read_artifact(uri) == read_artifact(output_of(show2, "a")["uri"].get<std::string>()));
  CHECK(read_artifact(output_of(show2, "c")["uri"].get<std::string>()).find("alpha") !=
        std::string::npos);
  CHECK(sql_one(t, "SELECT COUNT(*) FROM blob_incidents WHERE digest = '" +
                       a["digest"].get<std::string>() + "'") == "1");
  // The damaged bytes were kept aside, not deleted.
  const auto q = sql_one(t, "SELECT quarantined_to FROM blob_incidents");
  CHECK(fs::exists(q));

  // Without the cache too: damage it again, run 3 with --no-cache: sealing finds the damaged
  // copy under the digest and replaces it.
  damage(uri);
  REQUIRE(run_cli(t, {"run", file.string(), "--no-cache"}).exit_code == 0);
  CHECK(read_artifact(output_of(show_json(t, 3), "c")["uri"].get<std::string>()).find("alpha") !=
        std::string::npos);
  CHECK(sql_one(t, "SELECT COUNT(*) FROM blob_incidents") == "2");
  auto fsck = run_cli(t, {"fsck", "--json"});
  INFO(fsck.out << fsck.err);
  CHECK(fsck.exit_code == 0);
}

TEST_CASE("resume runs the producer of a deleted or damaged blob again",
          "[integration][integrity]") {
  for (const bool deleted : {true, false}) {
    DYNAMIC_SECTION((deleted ? "deleted" : "damaged")) {
      TempHome t;
      const auto file = t.write("killable.yaml", slow_chain("killable"));
      const auto pid = spawn_cli(t, {"run", file.string()}, "killed");
      REQUIRE(pid > 0);
      REQUIRE(wait_until([&] { return step_state(t, "b") == "running"; }, 30));
      kill(pid, SIGKILL);
      wait_cli(t, pid, "killed");
      const fs::path uri = output_of(show_json(t, 1), "a")["uri"].get<std::string>();
      if (deleted)
        fs::remove_all(uri);
      else
        damage(uri);
      // b sleeps 60 s: resume it with the step's own param unchanged, but cancel b once a has
      // run again, then check a's second execution and the fresh bytes.
      const auto resumed = spawn_cli(t, {"resume", "1"}, "resumed");
      REQUIRE(wait_until(
          [&] {
            return sql_one(t,
                           "SELECT COUNT(*) FROM executions WHERE step = 'a' AND "
                           "state = 'succeeded'") == "2";
          },
          30));
      CHECK(run_cli(t, {"cancel", "1"}).exit_code == 0);
      wait_cli_for(t, resumed, "resumed", 30);
      CHECK(read_artifact(uri) == "alpha");
      CHECK(sql_one(t, "SELECT COUNT(*) FROM blob_incidents WHERE problem " +
                           std::string(deleted ? "= 'missing'" : "<> 'missing'")) == "1");
      const auto log = slurp(t.home() / "runs" / "1" / "a.log");
      CHECK(log.find("the step runs again") != std::string::npos);
    }
  }
}

TEST_CASE("fsck finds damaged blobs, orphans and strays, and repairs them",
          "[integration][integrity]") {
  TempHome t;
  const auto file = t.write("pair.yaml", kPair);
  REQUIRE(run_cli(t, {"run", file.string()}).exit_code == 0);
  auto clean = run_cli(t, {"fsck"});
  INFO(clean.out << clean.err);
  CHECK(clean.exit_code == 0);
  CHECK(clean.out.find("no problems found") != std::string::npos);

  const fs::path uri = output_of(show_json(t, 1), "a")["uri"].get<std::string>();
  damage(uri);
  const auto blobs = t.home() / "blobs";
  const auto orphan = blobs / "sha256" / "ab" / std::string(62, 'c');
  fs::create_directories(orphan.parent_path());
  std::ofstream(orphan) << "nobody refers to me";
  fs::create_directories(blobs / "tmp");
  std::ofstream(blobs / "tmp" / "seal-1-2-3") << "left by a killed process";

  auto found = run_cli(t, {"fsck", "--json"});
  INFO(found.out << found.err);
  CHECK(found.exit_code == 1);
  auto j = found.json();
  std::multiset<std::string> kinds;
  for (const auto& f : j["findings"]) kinds.insert(f["kind"].get<std::string>());
  CHECK(kinds == std::multiset<std::string>{"damaged", "orphan", "stray"});
  CHECK(fs::exists(orphan));  // nothing changes without --repair

  auto repaired = run_cli(t, {"fsck", "--repair", "--orphan-grace", "0", "--json"});
  INFO(repaired.out << repaired.err);
  CHECK(repaired.exit_code == 0);
  CHECK(repaired.json()["repaired"] == 3);
  CHECK_FALSE(fs::exists(orphan));
  CHECK_FALSE(fs::exists(uri));  // quarantined
  CHECK(sql_one(t, "SELECT COUNT(*) FROM blob_incidents") == "1");

  // The quarantined blob is made again by the next run that needs it.
  REQUIRE(run_cli(t, {"run", file.string()}).exit_code == 0);
  CHECK(read_artifact(uri) == "alpha");
  CHECK(run_cli(t, {"fsck"}).exit_code == 0);
}
