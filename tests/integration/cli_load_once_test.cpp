// Integration: a pipeline file is read once per `llmops run` (the text validated is the text
// recorded and run), and `llmops resume` needs only what the store recorded. The file is a FIFO
// here: a second open would find no writer, so the test sees every open the engine makes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include "cli_harness.hpp"

using namespace llmops::testing;

namespace {

// Serves `text` to the first reader of `fifo` (waiting for one at most 30 s). A second open by
// the engine would then find no writer and block: the run would never end.
bool serve_fifo_once(const fs::path& fifo, const std::string& text) {
  int fd = -1;
  if (!wait_until([&] { return (fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) >= 0; }, 30))
    return false;  // ENXIO until a reader opens it
  fcntl(fd, F_SETFL, 0);
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

constexpr char kPipeline[] = R"(apiVersion: llmops/v1
kind: Pipeline
name: load-once
steps:
  first: {uses: testing/write, with: {text: hello}}
  flaky: {uses: testing/fail, with: {times: 1}, needs: [first]}
feedback:
  on: drift
  reenter: first
)";

}  // namespace

TEST_CASE("run opens the pipeline file once, and resume runs what was recorded", "[integration]") {
  TempHome t;
  const fs::path fifo = t.path() / "p.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const pid_t pid = spawn_cli(t, {"run", fifo.string()}, "run");
  REQUIRE(pid > 0);
  REQUIRE(serve_fifo_once(fifo, kPipeline));
  bool timed_out = false;
  auto r = wait_cli_for(t, pid, "run", 60, &timed_out);
  INFO(r.out << r.err);
  CHECK_FALSE(timed_out);   // it did not open the file a second time
  CHECK(r.exit_code == 1);  // `flaky` fails its first attempt
  CHECK(r.out.find("flaky") != std::string::npos);

  // Nothing serves the FIFO now: resume must plan from the recorded text alone.
  const pid_t rp = spawn_cli(t, {"resume", "1", "--json"}, "resume");
  timed_out = false;
  auto resumed = wait_cli_for(t, rp, "resume", 30, &timed_out);
  INFO(resumed.out << resumed.err);
  CHECK_FALSE(timed_out);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.json()["state"] == "succeeded");
}
