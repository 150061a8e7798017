// trainer/torch-lm's loop options: gradient accumulation equals one big batch, early stopping,
// and full fine-tuning of a base folder.
#include <catch2/catch.hpp>

#include "lm/model.hpp"
#include "lm/safetensors.hpp"
#include "trainer_test_util.hpp"
#include "trainers/torch_lm/run.hpp"

using namespace trainer_test;
namespace lm = llmops::lm;

namespace {

json small() {
  return {{"hidden", 32}, {"layers", 1},  {"heads", 2}, {"vocab", 300},         {"seq_len", 64},
          {"steps", 6},   {"threads", 1}, {"seed", 11}, {"checkpoint_every", 0}};
}

std::unique_ptr<FakeContext> train(const fs::path& work, const fs::path& data, json params,
                                   const fs::path& base = {}) {
  auto ctx = std::make_unique<FakeContext>(work, std::move(params));
  ctx->add_input("train", data, "dataset");
  if (!base.empty()) ctx->add_input("base", base, "model");
  auto st = llmops::trainers::run_torch_lm(*ctx);
  INFO(st.message());
  REQUIRE(st.is_ok());
  return ctx;
}

std::vector<float> weights(const fs::path& model_dir, const std::string& name) {
  auto f = lm::read_safetensors(model_dir / "model.safetensors");
  REQUIRE(f.is_ok());
  return f->tensors.at(name).to_float();
}

}  // namespace

TEST_CASE("gradient accumulation trains like one large batch", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "d.jsonl", 40);
  auto p1 = small();
  p1["batch_size"] = 8;
  auto p2 = small();
  p2["batch_size"] = 4;
  p2["grad_accum"] = 2;
  auto a = train(tmp.path / "a", tmp.path / "d.jsonl", p1);
  auto b = train(tmp.path / "b", tmp.path / "d.jsonl", p2);
  for (const char* name : {"model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight"}) {
    auto wa = weights(a->outputs.at("model"), name), wb = weights(b->outputs.at("model"), name);
    REQUIRE(wa.size() == wb.size());
    double diff = 0;
    for (size_t i = 0; i < wa.size(); ++i) diff = std::max(diff, double(std::abs(wa[i] - wb[i])));
    CHECK(diff < 1e-4);
  }
  const auto loss_a = a->metric_series("loss"), loss_b = b->metric_series("loss");
  REQUIRE(loss_a.size() == loss_b.size());
  for (size_t i = 0; i < loss_a.size(); ++i)
    CHECK(loss_a[i].second == Approx(loss_b[i].second).epsilon(1e-4));
}

TEST_CASE("argument_weight changes the training and not the reported loss", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "d.jsonl", 40);
  auto weighted = small();
  weighted["argument_weight"] = 4;
  auto a = train(tmp.path / "a", tmp.path / "d.jsonl", small());
  auto b = train(tmp.path / "b", tmp.path / "d.jsonl", weighted);
  const auto loss_a = a->metric_series("loss"), loss_b = b->metric_series("loss");
  REQUIRE(loss_a.size() == loss_b.size());
  // The first update's loss is computed before any update: the same plain cross-entropy.
  CHECK(loss_a[0].second == Approx(loss_b[0].second).epsilon(1e-6));
  auto wa = weights(a->outputs.at("model"), "model.embed_tokens.weight");
  auto wb = weights(b->outputs.at("model"), "model.embed_tokens.weight");
  REQUIRE(wa.size() == wb.size());
  double diff = 0;
  for (size_t i = 0; i < wa.size(); ++i) diff = std::max(diff, double(std::abs(wa[i] - wb[i])));
  CHECK(diff > 1e-4);
  weighted["argument_weight"] = -1;
  FakeContext bad(tmp.path / "c", weighted);
  bad.add_input("train", tmp.path / "d.jsonl", "dataset");
  auto st = llmops::trainers::run_torch_lm(bad);
  CHECK_FALSE(st.is_ok());
  CHECK_THAT(st.message(), Catch::Contains("argument_weight"));
}

TEST_CASE("early stopping ends training when eval loss stops improving", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "d.jsonl", 40);
  auto p = small();
  p["steps"] = 50;
  p["eval_every"] = 1;
  p["patience"] = 2;
  p["min_delta"] = 100.0;  // nothing counts as an improvement after the first evaluation
  auto ctx = train(tmp.path / "w", tmp.path / "d.jsonl", p);
  auto report = json::parse(read_file(ctx->outputs.at("report") / "report.json"));
  CHECK(report["early_stopped"] == true);
  CHECK(report["steps"] == 3);
  CHECK(ctx->final_metric("steps") == 3);
}

TEST_CASE("full fine-tuning starts from the base weights and keeps its config", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "d.jsonl", 40);
  // The base: the from-scratch output of a first training (an HF folder with tokenizer.json).
  auto ps = small();
  ps["steps"] = 30;
  auto first = train(tmp.path / "s", tmp.path / "d.jsonl", ps);
  const auto base = first->outputs.at("model");
  auto p = small();
  p.erase("hidden");
  p.erase("layers");
  p.erase("heads");
  p.erase("vocab");
  p["steps"] = 2;
  p["lr"] = 1e-3;
  auto ctx = train(tmp.path / "f", tmp.path / "d.jsonl", p, base);
  auto report = json::parse(read_file(ctx->outputs.at("report") / "report.json"));
  CHECK(report["mode"] == "full");
  const auto out = ctx->outputs.at("model");
  CHECK(fs::exists(out / "tokenizer.json"));
  auto before = lm::inspect_model(base), after = lm::inspect_model(out);
  REQUIRE(before.is_ok());
  REQUIRE(after.is_ok());
  CHECK(after->config.hidden_size == before->config.hidden_size);
  CHECK(after->parameters == before->parameters);
  const auto name = "model.layers.0.self_attn.q_proj.weight";
  auto wa = weights(base, name), wb = weights(out, name);
  double diff = 0;
  for (size_t i = 0; i < wa.size(); ++i) diff = std::max(diff, double(std::abs(wa[i] - wb[i])));
  CHECK(diff > 0);     // it trained
  CHECK(diff < 0.05);  // two small steps from the base, not a fresh model
  // The base's own first loss is far below a fresh model's: training started from its weights.
  CHECK(ctx->metric_series("loss").front().second <
        first->metric_series("loss").front().second - 0.5);
}
