// Data-parallel training under Slurm: trainer/torch-lm with `distributed:` in a Slurm job of two
// tasks (srun starts the ranks, SLURM_PROCID is the rank) against one local process on the same
// data, seed and global batch.
#include <catch2/catch.hpp>

#include <cmath>

#include "tests/integration/cli_harness.hpp"

using namespace llmops::testing;

namespace {

std::string pipeline(const std::string& name, const std::string& train_extra) {
  return "apiVersion: llmops/v1\nkind: Pipeline\nname: " + name + R"(
steps:
  synth:
    uses: curator/synthetic-tasks
    with: {count: 300, seed: 3, scenario: base}
  curate:
    uses: curator/jsonl
    inputs: {data: "${{ steps.synth.outputs.dataset }}"}
  train:
    uses: trainer/torch-lm
    inputs: {train: "${{ steps.curate.outputs.train }}", eval: "${{ steps.curate.outputs.eval }}"}
)" + train_extra;
}

constexpr char kWith[] =
    "    with: {mode: scratch, hidden: 64, layers: 2, heads: 4, vocab: 300, seq_len: 64,\n"
    "           batch_size: 8, steps: 20, threads: 1";

nlohmann::json report_of(const TempHome& t, int64_t run) {
  auto out = output_of(show_json(t, run), "train", "report");
  REQUIRE(out.is_object());
  return nlohmann::json::parse(slurp(fs::path(out["uri"].get<std::string>()) / "report.json"));
}

}  // namespace

TEST_CASE("two Slurm tasks train like one process on the same global batch", "[slurm][ddp]") {
  TempHome t;
  const auto name = "ddp-" + std::to_string(getpid());
  const auto local = t.write("local.yaml", pipeline(name, std::string(kWith) + "}\n"));
  auto one = run_cli(t, {"run", local.string()});
  INFO(one.out << one.err);
  REQUIRE(one.exit_code == 0);

  const auto slurm = t.write(
      "slurm.yaml", pipeline(name, std::string("    executor: slurm\n    slurm: {ntasks_per_node: "
                                               "2}\n    resources: {memory: 2Gi}\n") +
                                       kWith + ",\n           distributed: {timeout: 60}}\n"));
  auto two = run_cli(t, {"run", slurm.string()});
  INFO(two.out << two.err);
  REQUIRE(two.exit_code == 0);
  CHECK(sql_one(t, "SELECT external_id FROM executions WHERE run_id = 2 AND step = 'train'")
            .rfind("slurm:", 0) == 0);
  const auto log = run_cli(t, {"logs", "2", "train"}).out;
  CHECK(log.find("2 ranks (srun, 1 node(s))") != std::string::npos);
  CHECK(log.find("[rank 1] joined the group of 2") != std::string::npos);

  const auto r1 = report_of(t, 1), r2 = report_of(t, 2);
  CHECK(r1["world_size"] == 1);
  CHECK(r2["world_size"] == 2);
  REQUIRE(r1["loss_curve"].size() == 20);
  REQUIRE(r2["loss_curve"].size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    const double a = r1["loss_curve"][i][1], b = r2["loss_curve"][i][1];
    INFO("step " << i + 1 << ": " << a << " vs " << b);
    CHECK(std::abs(a - b) <= 1e-4 * std::abs(a));
  }
  const double e1 = r1["eval_loss"], e2 = r2["eval_loss"];
  CHECK(std::abs(e1 - e2) <= 1e-4 * std::abs(e1));
}
