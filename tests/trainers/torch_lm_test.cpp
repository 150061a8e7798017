// trainer/torch-lm through its step entry point, as the engine drives it: learning from scratch,
// resume after a kill, and clear errors for bad inputs.
#include <catch2/catch.hpp>
#include <chrono>

#include "lm/model.hpp"
#include "lm/tokenizer.hpp"
#include "trainer_test_util.hpp"
#include "trainers/torch_lm/run.hpp"

using namespace trainer_test;
using llmops::trainers::run_torch_lm;

namespace {

json tiny_params() {
  return {{"hidden", 32},  {"layers", 1},     {"heads", 2},           {"vocab", 300},
          {"seq_len", 64}, {"batch_size", 4}, {"steps", 12},          {"threads", 1},
          {"seed", 3},     {"eval_every", 4}, {"checkpoint_every", 4}};
}

}  // namespace

TEST_CASE("torch-lm trains a tiny model from scratch well below the unigram baseline",
          "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 240);
  FakeContext ctx(tmp.path / "work", {{"hidden", 64},
                                      {"layers", 2},
                                      {"heads", 4},
                                      {"kv_heads", 2},
                                      {"vocab", 400},
                                      {"seq_len", 128},
                                      {"batch_size", 8},
                                      {"steps", 120},
                                      {"lr", 3e-3},
                                      {"threads", 1},
                                      {"eval_fraction", 0.1}});
  ctx.add_input("train", tmp.path / "train.jsonl", "dataset");
  const auto t0 = std::chrono::steady_clock::now();
  auto st = run_torch_lm(ctx);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(st.message());
  REQUIRE(st.is_ok());
  const double unigram = ctx.final_metric("unigram_loss");
  const double eval = ctx.final_metric("eval_loss");
  const double train = ctx.final_metric("train_loss");
  WARN("from scratch: " << secs << " s, unigram " << unigram << ", train " << train << ", eval "
                        << eval << ", tok/s " << ctx.final_metric("tokens_per_s"));
  CHECK(eval < 0.5 * unigram);
  CHECK(train < 0.5 * unigram);
  CHECK(ctx.metric_series("loss").size() == 120);
  CHECK(ctx.metric_series("eval_loss").size() >= 10);

  // The outputs are an HF folder and a tokenizer that load back.
  const auto model_dir = ctx.outputs.at("model");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json",
                        "tokenizer_config.json", "generation_config.json"})
    CHECK(fs::exists(model_dir / f));
  auto model = llmops::lm::Model::load(model_dir);
  REQUIRE(model.is_ok());
  auto tok = llmops::lm::Tokenizer::load(ctx.outputs.at("tokenizer") / "tokenizer.json");
  REQUIRE(tok.is_ok());
  CHECK(tok->token_to_id("<|im_start|>").has_value());
  CHECK(model->config().vocab_size >= tok->vocab_size());
  auto report = json::parse(read_file(ctx.outputs.at("report") / "report.json"));
  CHECK(report["mode"] == "scratch");
  CHECK(report["steps"] == 120);
  CHECK(!fs::exists(tmp.path / "work" / "checkpoints"));  // removed after success
}

TEST_CASE("torch-lm resumes after a kill and ends with the same weights", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 60);
  auto run = [&](const fs::path& work, const json& params, int64_t cancel_after) {
    auto ctx = std::make_unique<FakeContext>(work, params);
    ctx->add_input("train", tmp.path / "train.jsonl", "dataset");
    if (cancel_after >= 0) ctx->cancel_at_progress(static_cast<double>(cancel_after));
    auto st = run_torch_lm(*ctx);
    return std::make_pair(st, std::move(ctx));
  };
  auto [ok, whole] = run(tmp.path / "a", tiny_params(), -1);
  REQUIRE(ok.is_ok());

  // The engine's layout: <work>/<step>/<attempt>/scratch; checkpoints go to <work>/<step>.
  auto [killed, first] = run(tmp.path / "b", tiny_params(), 6);
  CHECK(killed.code() == llmops::StatusCode::kCancelled);
  CHECK(fs::exists(tmp.path / "b" / "checkpoints" / "step-00000004" / "state.json"));
  auto [resumed, second] = run(tmp.path / "b", tiny_params(), -1);
  INFO(resumed.message());
  REQUIRE(resumed.is_ok());
  auto report = json::parse(read_file(second->outputs.at("report") / "report.json"));
  CHECK(report["resumed_from"] == 4);
  CHECK(read_file(second->outputs.at("model") / "model.safetensors") ==
        read_file(whole->outputs.at("model") / "model.safetensors"));
  CHECK(second->metric_series("loss") == whole->metric_series("loss"));  // the curve is whole again

  // Different parameters never resume from that checkpoint.
  auto [k2, third] = run(tmp.path / "c", tiny_params(), 6);
  auto other = tiny_params();
  other["lr"] = 1e-2;
  auto [ok2, fourth] = run(tmp.path / "c", other, -1);
  REQUIRE(ok2.is_ok());
  CHECK(json::parse(read_file(fourth->outputs.at("report") / "report.json"))["resumed_from"] == 0);
}

TEST_CASE("torch-lm rejects bad inputs with clear errors", "[trainer]") {
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 20);
  auto attempt = [&](json params, const fs::path& train, const fs::path& base = {}) {
    FakeContext ctx(tmp.path / "work", std::move(params));
    if (!train.empty()) ctx.add_input("train", train, "dataset");
    if (!base.empty()) ctx.add_input("base", base, "model");
    return run_torch_lm(ctx);
  };
  auto p = tiny_params();
  auto s = attempt(p, {});
  CHECK_THAT(s.message(), Catch::Contains("input 'train' is required"));
  s = attempt(p, tmp.path / "missing.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("does not exist"));

  std::ofstream(tmp.path / "bad.jsonl") << "{\"messages\": []}\n{not json\n";
  s = attempt(p, tmp.path / "bad.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("bad.jsonl:1"));
  std::ofstream(tmp.path / "bad2.jsonl")
      << "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n{oops\n";
  s = attempt(p, tmp.path / "bad2.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("bad2.jsonl:2"));
  std::ofstream(tmp.path / "noassist.jsonl")
      << "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n";
  s = attempt(p, tmp.path / "noassist.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("no assistant tokens"));

  auto q = p;
  q["hidden"] = 30;
  q["heads"] = 4;
  s = attempt(q, tmp.path / "train.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("multiple of heads"));
  q = p;
  q["seq_len"] = 1024;
  q["max_seq"] = 128;
  s = attempt(q, tmp.path / "train.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("exceeds max_seq"));
  q = p;
  q["mode"] = "lora";
  s = attempt(q, tmp.path / "train.jsonl");
  CHECK_THAT(s.message(), Catch::Contains("needs a `base` input"));

  // A base folder with a missing tensor or an unknown architecture.
  fs::create_directories(tmp.path / "base");
  std::ofstream(tmp.path / "base" / "config.json")
      << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})";
  q = p;
  q["mode"] = "full";
  s = attempt(q, tmp.path / "train.jsonl", tmp.path / "base");
  CHECK(!s.is_ok());
  CHECK_THAT(s.message(), Catch::Contains("tokenizer.json"));
}
