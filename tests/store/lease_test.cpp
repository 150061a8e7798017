// Run ownership (store/leases.cpp), ending a run nobody can finish, and the blob store's checks:
// check(), quarantine() and a seal that replaces damaged bytes (store/blob_store.cpp).
#include <catch2/catch.hpp>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace fs = std::filesystem;
using namespace llmops::store;
using llmops::store::testing::open_store;
using llmops::store::testing::read_file;
using llmops::store::testing::TempDir;
using llmops::store::testing::write_file;

namespace {

int64_t make_run(Store& st) {
  NewRun r;
  r.pipeline = "demo";
  auto id = st.create_run(r, {"a", "b", "c"});
  REQUIRE(id);
  return id.value();
}

RunOwner owner(const std::string& token, int64_t pid) {
  RunOwner o;
  o.token = token;
  o.pid = pid;
  o.host = "h";
  return o;
}

}  // namespace

TEST_CASE("one owner per run: a live owner refuses a claim, a dead one is taken over",
          "[store][lease]") {
  TempDir tmp;
  auto st = open_store(tmp.path);
  const auto run = make_run(*st);
  auto alive = [](const RunOwner&) { return true; };
  auto dead = [](const RunOwner&) { return false; };

  auto first = st->claim_run(run, owner("t1", 100), alive);
  REQUIRE(first);
  CHECK_FALSE(first.value());  // no owner before: taken
  auto second = st->claim_run(run, owner("t2", 200), alive);
  REQUIRE(second);
  REQUIRE(second.value());  // refused, naming the owner
  CHECK(second.value()->pid == 100);
  CHECK(second.value()->token == "t1");

  // The owner's heartbeat carries a cancel request.
  auto beat = st->heartbeat_run(run, "t1");
  REQUIRE(beat);
  CHECK_FALSE(beat.value());
  REQUIRE(st->request_cancel(run));
  beat = st->heartbeat_run(run, "t1");
  REQUIRE(beat);
  CHECK(beat.value());

  // A dead owner is replaced; its heartbeat then says the run is no longer its.
  auto takeover = st->claim_run(run, owner("t2", 200), dead);
  REQUIRE(takeover);
  CHECK_FALSE(takeover.value());
  auto lost = st->heartbeat_run(run, "t1");
  REQUIRE_FALSE(lost);
  CHECK(lost.status().code() == llmops::StatusCode::kNotFound);
  auto now = st->run_owner(run);
  REQUIRE(now);
  REQUIRE(now.value());
  CHECK(now.value()->pid == 200);
  CHECK_FALSE(now.value()->cancel_requested);  // a new owner starts without the old request

  // Releasing with a stale token changes nothing; with the owner's, the run is free.
  REQUIRE(st->release_run(run, "t1"));
  CHECK(st->run_owner(run).value());
  REQUIRE(st->release_run(run, "t2"));
  CHECK_FALSE(st->run_owner(run).value());
  CHECK(st->request_cancel(run).code() == llmops::StatusCode::kNotFound);
  CHECK(st->claim_run(run + 1, owner("t3", 300), alive).status().code() ==
        llmops::StatusCode::kNotFound);
}

TEST_CASE("end_run fails or cancels what was left unfinished, in one go", "[store][lease]") {
  TempDir tmp;
  auto st = open_store(tmp.path);
  for (State end : {State::kFailed, State::kCancelled}) {
    const auto run = make_run(*st);
    REQUIRE(st->set_step_state(run, "a", State::kSucceeded));
    auto exec = st->begin_execution(run, "b", 1, "p", "1", "", "", "");
    REQUIRE(exec);
    auto n = st->end_run(run, end, "disk full at commit");
    REQUIRE(n);
    auto steps = st->list_steps(run).value();
    CHECK(steps[0].state == State::kSucceeded);
    CHECK(steps[1].state == end);
    CHECK(steps[1].reason == "disk full at commit");
    // A failed run keeps its pending steps for a resume; a cancelled one cancels them.
    CHECK(steps[2].state == (end == State::kFailed ? State::kPending : State::kCancelled));
    CHECK(n.value() == (end == State::kFailed ? 1 : 2));
    auto execs = st->list_executions(run).value();
    REQUIRE(execs.size() == 1);
    CHECK(execs[0].state == State::kFailed);
    CHECK(execs[0].error == "disk full at commit");
    auto info = st->get_run(run).value();
    CHECK(info.state == end);
    CHECK(info.error == "disk full at commit");
  }
  CHECK_FALSE(st->end_run(1, State::kSucceeded, "no"));
}

TEST_CASE("check() finds missing, truncated and changed blobs, seal replaces damaged bytes",
          "[store][blob]") {
  TempDir tmp;
  BlobStore blobs(tmp.path / "blobs");
  write_file(tmp.path / "src.txt", "some content");
  auto sealed = blobs.seal(tmp.path / "src.txt", false);
  REQUIRE(sealed);
  const auto path = sealed->path;
  CHECK(blobs.check(sealed->digest, sealed->size).ok);
  CHECK_FALSE(blobs.check(sealed->digest, sealed->size).hashed);  // sealed here: known good

  write_file(path, "some kontent");  // same size, other bytes (new mtime)
  auto changed = blobs.check(sealed->digest, sealed->size);
  CHECK_FALSE(changed.ok);
  CHECK(changed.hashed);
  CHECK(changed.problem == "content does not match its digest");
  write_file(path, "some");
  CHECK(blobs.check(sealed->digest, sealed->size).problem == "size 4 bytes, recorded 12");

  // Sealing the same content again puts good bytes back and keeps the bad ones aside.
  auto again = blobs.seal(tmp.path / "src.txt", false);
  REQUIRE(again);
  CHECK(again->replaced_problem == "size 4 bytes, recorded 12");
  CHECK(read_file(again->replaced_to) == "some");
  CHECK(read_file(path) == "some content");
  CHECK(blobs.check(sealed->digest, sealed->size).ok);

  // A fresh BlobStore (another process) hashes once, then trusts unchanged stamps.
  BlobStore other(tmp.path / "blobs");
  CHECK(other.check(sealed->digest, sealed->size).hashed);
  CHECK_FALSE(other.check(sealed->digest, sealed->size).hashed);
  BlobStore big(tmp.path / "blobs");
  big.set_full_hash_limit(4);
  auto sized = big.check(sealed->digest, sealed->size);
  CHECK(sized.ok);
  CHECK_FALSE(sized.hashed);

  auto moved = blobs.quarantine(sealed->digest);
  REQUIRE(moved);
  CHECK(fs::exists(moved.value()));
  CHECK(blobs.check(sealed->digest, sealed->size).problem == "missing");
  std::vector<fs::path> strays;
  write_file(tmp.path / "blobs" / "tmp" / "seal-x", "left over");
  auto stored = blobs.stored_digests(&strays);
  REQUIRE(stored);
  CHECK(stored->empty());
  CHECK(strays.size() == 1);
}
