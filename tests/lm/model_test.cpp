// The Llama decoder against the Hugging Face fixtures (logits 1e-4, loss 1e-5, greedy exact),
// LoRA as adapter and merged, save/load round trips, and clear errors on bad checkpoints.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "lm/model.hpp"
#include "lm_test_util.hpp"

using namespace llmops::lm;
namespace fs = std::filesystem;

namespace {
SafetensorsFile expected(const std::string& dir) {
  auto f = read_safetensors(hf_fixture(dir) / "expected.safetensors");
  REQUIRE(f.is_ok());
  return *f;
}

Model load(const fs::path& dir) {
  auto m = Model::load(dir);
  INFO(m.status().message());
  REQUIRE(m.is_ok());
  return std::move(*m);
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  for (auto& e : fs::recursive_directory_iterator(to))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
}
}  // namespace

TEST_CASE("tiny-llama logits, loss and greedy tokens match transformers", "[lm][model]") {
  auto exp = expected("tiny-llama");
  auto model = load(hf_fixture("tiny-llama"));
  CHECK(model.config().num_key_value_heads == 2);
  CHECK(model.config().rope_theta == 10000.0);
  const auto& ids = exp.tensors.at("input_ids");
  auto logits = model.logits(ids);
  REQUIRE(logits.is_ok());
  CHECK(logits->shape == exp.tensors.at("logits").shape);
  const double dl = max_abs_diff(logits->to_float(), exp.tensors.at("logits").to_float());
  WARN("max |logits - expected| = " << dl);
  CHECK(dl < 1e-4);

  auto loss = model.loss(ids);
  REQUIRE(loss.is_ok());
  const double dloss = std::abs(*loss - exp.tensors.at("loss").to_float()[0]);
  WARN("|loss - expected| = " << dloss);
  CHECK(dloss < 1e-5);

  auto greedy = exp.tensors.at("greedy").to_int64();
  const auto all_ids = ids.to_int64();
  std::vector<int64_t> prompt(all_ids.begin(), all_ids.begin() + 5);
  GenerationOptions opt;
  opt.max_new_tokens = 10;
  auto out = model.generate(prompt, opt);
  INFO(out.status().message());
  REQUIRE(out.is_ok());
  CHECK(*out == greedy);
}

TEST_CASE("tiny-llama-lora logits match PEFT as adapter and merged", "[lm][lora]") {
  auto exp = expected("tiny-llama-lora");
  auto model = load(hf_fixture("tiny-llama"));
  auto st = model.load_adapter(hf_fixture("tiny-llama-lora"));
  INFO(st.message());
  REQUIRE(st.is_ok());
  const auto& ids = exp.tensors.at("input_ids");
  const auto want = exp.tensors.at("logits").to_float();
  auto a = model.logits(ids);
  REQUIRE(a.is_ok());
  const double da = max_abs_diff(a->to_float(), want);
  WARN("adapter: max |logits - expected| = " << da);
  CHECK(da < 1e-4);

  TempDir tmp;  // saving the adapter and loading it again gives the same output
  REQUIRE(model.save_adapter(tmp.path / "adapter").is_ok());
  auto again = load(hf_fixture("tiny-llama"));
  REQUIRE(again.load_adapter(tmp.path / "adapter").is_ok());
  CHECK(max_abs_diff(again.logits(ids)->to_float(), want) < 1e-4);

  model.merge_adapter();
  CHECK_FALSE(model.has_adapter());
  auto m = model.logits(ids);
  const double dm = max_abs_diff(m->to_float(), want);
  WARN("merged: max |logits - expected| = " << dm);
  CHECK(dm < 1e-4);
}

TEST_CASE("a saved model loads back identical, sharded or not, in bf16 too", "[lm][model]") {
  auto exp = expected("tiny-llama");
  const auto& ids = exp.tensors.at("input_ids");
  auto model = load(hf_fixture("tiny-llama"));
  auto base = model.logits(ids)->to_float();
  TempDir tmp;
  REQUIRE(model.save(tmp.path / "single").is_ok());
  CHECK(fs::exists(tmp.path / "single" / "model.safetensors"));
  CHECK(max_abs_diff(load(tmp.path / "single").logits(ids)->to_float(), base) == 0);

  REQUIRE(model.save(tmp.path / "sharded", DType::kF32, 100'000).is_ok());
  CHECK(fs::exists(tmp.path / "sharded" / "model.safetensors.index.json"));
  CHECK(max_abs_diff(load(tmp.path / "sharded").logits(ids)->to_float(), base) == 0);
  auto info = inspect_model(tmp.path / "sharded");
  REQUIRE(info.is_ok());
  CHECK(info->files.size() > 1);
  CHECK(info->parameters == model.parameter_count());

  REQUIRE(model.save(tmp.path / "bf16", DType::kBF16).is_ok());
  auto binfo = inspect_model(tmp.path / "bf16");
  REQUIRE(binfo.is_ok());
  CHECK(binfo->dtypes.at("BF16") == binfo->tensors);
  CHECK(max_abs_diff(load(tmp.path / "bf16").logits(ids)->to_float(), base) < 0.05);
}

TEST_CASE("bad checkpoints give clear errors", "[lm][model]") {
  TempDir tmp;
  const auto dir = tmp.path / "m";
  copy_dir(hf_fixture("tiny-llama"), dir);
  auto original = read_safetensors(dir / "model.safetensors");
  REQUIRE(original.is_ok());

  SECTION("missing tensor") {
    auto t = original->tensors;
    t.erase("model.layers.1.mlp.up_proj.weight");
    REQUIRE(write_safetensors(dir / "model.safetensors", t).is_ok());
    auto m = Model::load(dir);
    REQUIRE_FALSE(m.is_ok());
    CHECK_THAT(m.status().message(),
               Catch::Contains("missing tensor 'model.layers.1.mlp.up_proj.weight'"));
  }
  SECTION("wrong shape") {
    auto t = original->tensors;
    t["model.norm.weight"] = RawTensor::from_float({32}, std::vector<float>(32, 1.0f));
    REQUIRE(write_safetensors(dir / "model.safetensors", t).is_ok());
    auto m = Model::load(dir);
    REQUIRE_FALSE(m.is_ok());
    CHECK_THAT(m.status().message(), Catch::Contains("'model.norm.weight' has shape [32]") &&
                                         Catch::Contains("needs [64]"));
  }
  SECTION("unknown architecture") {
    std::ofstream(dir / "config.json") << R"({"architectures": ["GPT2LMHeadModel"],
                                             "model_type": "gpt2"})";
    auto m = Model::load(dir);
    REQUIRE_FALSE(m.is_ok());
    CHECK_THAT(m.status().message(), Catch::Contains("unknown architecture 'GPT2LMHeadModel'"));
  }
  SECTION("heads that do not divide") {
    std::ofstream(dir / "config.json") << R"({"architectures": ["LlamaForCausalLM"],
        "num_attention_heads": 4, "num_key_value_heads": 3, "hidden_size": 64})";
    auto m = Model::load(dir);
    REQUIRE_FALSE(m.is_ok());
    CHECK_THAT(m.status().message(), Catch::Contains("not a multiple of num_key_value_heads"));
  }
  SECTION("no weights") {
    fs::remove(dir / "model.safetensors");
    auto m = Model::load(dir);
    REQUIRE_FALSE(m.is_ok());
    CHECK_THAT(m.status().message(), Catch::Contains("no model.safetensors"));
  }
  SECTION("ids outside the vocabulary") {
    auto model = load(dir);
    auto r = model.logits(RawTensor::from_int64({1, 2}, {5, 320}));
    REQUIRE_FALSE(r.is_ok());
    CHECK_THAT(r.status().message(), Catch::Contains("outside the vocabulary"));
  }
}

TEST_CASE("sampling is seeded and stops at stop tokens", "[lm][generate]") {
  auto model = load(hf_fixture("tiny-llama"));
  GenerationOptions opt;
  opt.max_new_tokens = 20;
  opt.temperature = 1.0;
  opt.top_p = 0.9;
  opt.seed = 42;
  auto a = model.generate({1, 5, 9}, opt);
  auto b = model.generate({1, 5, 9}, opt);
  REQUIRE(a.is_ok());
  CHECK(*a == *b);
  CHECK(a->size() == 23);
  opt.seed = 43;
  opt.max_new_tokens = 40;
  auto c = model.generate({1, 5, 9}, opt);
  REQUIRE(c.is_ok());
  CHECK(std::vector<int64_t>(c->begin(), c->begin() + 23) != *a);

  opt.stop_tokens = {(*a)[5]};  // the third generated token (or earlier) stops it
  opt.seed = 42;
  opt.max_new_tokens = 20;
  auto d = model.generate({1, 5, 9}, opt);
  REQUIRE(d.is_ok());
  CHECK(d->size() <= 6);
  CHECK(d->back() == (*a)[5]);
}
