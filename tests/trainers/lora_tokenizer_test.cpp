// trainer/torch-lm's LoRA mode (only the adapter changes; adapter and merged model agree) and
// its byte-level BPE tokenizer trainer.
#include <catch2/catch.hpp>

#include <algorithm>

#include "lm/chat.hpp"
#include "lm/model.hpp"
#include "lm/safetensors.hpp"
#include "lm/tokenizer.hpp"
#include "trainer_test_util.hpp"
#include "trainers/torch_lm/bpe_trainer.hpp"
#include "trainers/torch_lm/data.hpp"
#include "trainers/torch_lm/run.hpp"

using namespace trainer_test;
namespace lm = llmops::lm;
namespace tr = llmops::trainers;

namespace {

std::vector<std::string> rendered(const fs::path& jsonl) {
  auto convs = tr::read_conversations(jsonl);
  REQUIRE(convs.is_ok());
  std::vector<std::string> texts;
  for (const auto& c : *convs) texts.push_back(lm::render_chatml(c));
  return texts;
}

}  // namespace

TEST_CASE("LoRA training changes only the adapter, saved in PEFT format", "[trainer][lora]") {
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 40);
  // A base model folder: a random tiny Llama and a tokenizer trained on the data.
  tr::BpeTrainOptions bo;
  bo.vocab_size = 300;
  auto tok_json = tr::train_bpe_tokenizer(rendered(tmp.path / "train.jsonl"), bo);
  REQUIRE(tok_json.is_ok());
  const auto base = tmp.path / "base";
  fs::create_directories(base);
  std::ofstream(base / "tokenizer.json") << *tok_json;
  lm::LlamaConfig c;
  c.vocab_size = 300;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 128;
  auto m = lm::Model::init(c, 5);
  REQUIRE(m.is_ok());
  REQUIRE(m->save(base).is_ok());

  FakeContext ctx(
      tmp.path / "work",
      {{"lora",
        {{"rank", 4}, {"alpha", 8}, {"dropout", 0.1}, {"target_modules", {"q_proj", "v_proj"}}}},
       {"steps", 6},
       {"seq_len", 64},
       {"batch_size", 4},
       {"lr", 1e-2},
       {"threads", 1}});
  ctx.add_input("train", tmp.path / "train.jsonl", "dataset");
  ctx.add_input("base", base, "model");
  auto st = llmops::trainers::run_torch_lm(ctx);
  INFO(st.message());
  REQUIRE(st.is_ok());

  const auto adapter = ctx.outputs.at("adapter");
  auto cfg = json::parse(read_file(adapter / "adapter_config.json"));
  CHECK(cfg["peft_type"] == "LORA");
  CHECK(cfg["r"] == 4);
  auto ad = lm::read_safetensors(adapter / "adapter_model.safetensors");
  REQUIRE(ad.is_ok());
  CHECK(ad->tensors.size() == 4);  // q_proj and v_proj, A and B, one layer
  for (const auto& [name, t] : ad->tensors) {
    CHECK(name.rfind("base_model.model.model.layers.0.self_attn.", 0) == 0);
    if (name.find("lora_B") != std::string::npos) {
      auto v = t.to_float();
      CHECK(std::any_of(v.begin(), v.end(), [](float x) { return x != 0; }));  // it trained
    }
  }

  // The merged model differs from the base only in the targeted projections.
  auto before = lm::read_safetensors(base / "model.safetensors");
  auto after = lm::read_safetensors(ctx.outputs.at("model") / "model.safetensors");
  REQUIRE(before.is_ok());
  REQUIRE(after.is_ok());
  REQUIRE(before->tensors.size() == after->tensors.size());
  for (const auto& [name, t] : before->tensors) {
    const bool targeted =
        name.find("q_proj") != std::string::npos || name.find("v_proj") != std::string::npos;
    INFO(name);
    CHECK((after->tensors.at(name).data == t.data) == !targeted);
  }

  // The adapter on the base gives the merged model's logits.
  auto with_adapter = lm::Model::load(base);
  REQUIRE(with_adapter.is_ok());
  REQUIRE(with_adapter->load_adapter(adapter).is_ok());
  auto merged = lm::Model::load(ctx.outputs.at("model"));
  REQUIRE(merged.is_ok());
  auto ids = lm::RawTensor::from_int64({1, 6}, {3, 40, 50, 60, 70, 80});
  auto a = with_adapter->logits(ids);
  auto b = merged->logits(ids);
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  auto av = a->to_float(), bv = b->to_float();
  double diff = 0;
  for (size_t i = 0; i < av.size(); ++i) diff = std::max(diff, double(std::abs(av[i] - bv[i])));
  CHECK(diff < 1e-4);
}

TEST_CASE("the BPE trainer writes a tokenizer.json that round-trips any text", "[tokenizer]") {
  TempDir tmp;
  write_task_data(tmp.path / "train.jsonl", 100);
  const auto texts = rendered(tmp.path / "train.jsonl");
  tr::BpeTrainOptions bo;
  bo.vocab_size = 400;
  auto j = tr::train_bpe_tokenizer(texts, bo);
  REQUIRE(j.is_ok());
  CHECK(*tr::train_bpe_tokenizer(texts, bo) == *j);  // deterministic
  auto tok = lm::Tokenizer::parse(*j, "trained");
  REQUIRE(tok.is_ok());
  CHECK(tok->vocab_size() == 400);
  CHECK(tok->token_to_id("<|endoftext|>") == 0);
  CHECK(tok->token_to_id("<|im_start|>") == 1);
  CHECK(tok->token_to_id("<|im_end|>") == 2);
  for (std::string s : {texts[0], std::string("Unseen: naïve café, 東京, emoji 🚀 and tabs\t\n"),
                        std::string("  leading spaces and <|im_end|> inside")}) {
    auto ids = tok->encode(s, false);
    CHECK(tok->decode(ids, false) == s);
  }
  // Merges learnt from the data make it compress: far fewer tokens than bytes.
  auto ids = tok->encode(texts[1], false);
  CHECK(ids.size() * 3 < texts[1].size());
  auto specials = tok->encode("<|im_start|>user\nhi<|im_end|>", false);
  CHECK(specials.front() == 1);
  CHECK(specials.back() == 2);

  bo.vocab_size = 100;
  auto small = tr::train_bpe_tokenizer(texts, bo);
  CHECK(!small.is_ok());
  CHECK_THAT(small.status().message(), Catch::Contains("below the minimum"));
}

// `n` task conversations and a 300-token BPE tokenizer trained on them.
std::pair<lm::Tokenizer, std::vector<tr::Conversation>> task_data_and_tokenizer(const TempDir& tmp,
                                                                                int n) {
  write_task_data(tmp.path / "train.jsonl", n);
  tr::BpeTrainOptions bo;
  bo.vocab_size = 300;
  auto tok =
      lm::Tokenizer::parse(*tr::train_bpe_tokenizer(rendered(tmp.path / "train.jsonl"), bo), "t");
  REQUIRE(tok.is_ok());
  auto convs = tr::read_conversations(tmp.path / "train.jsonl");
  REQUIRE(convs.is_ok());
  return {std::move(*tok), std::move(*convs)};
}

TEST_CASE("packing makes every assistant token a target exactly once", "[data]") {
  TempDir tmp;
  auto [tok, convs] = task_data_and_tokenizer(tmp, 30);
  auto p = tr::pack_conversations(tok, convs, 32);
  REQUIRE(p.is_ok());
  int64_t counted = 0;
  for (size_t i = 0; i < p->labels.size(); ++i) {
    if (i % 32 == 0) CHECK(p->labels[i] == -100);
    if (p->labels[i] >= 0) {
      CHECK(p->labels[i] == p->ids[i]);
      ++counted;
    }
  }
  CHECK(counted == p->target_tokens);
  CHECK(tr::unigram_loss(*p, *p, tok.vocab_size()) > 1.0);
}

TEST_CASE("conversation packing keeps each conversation whole and every target once", "[data]") {
  TempDir tmp;
  auto [tok, convs] = task_data_and_tokenizer(tmp, 40);
  const int64_t T = 160;
  auto stream = tr::pack_conversations(tok, convs, T);
  auto whole = tr::pack_conversations(tok, convs, T, tr::Packing::kConversations);
  REQUIRE(stream.is_ok());
  REQUIRE(whole.is_ok());
  CHECK(whole->tokens == stream->tokens);
  CHECK(whole->target_tokens == stream->target_tokens);
  const auto start = *tok.token_to_id("<|im_start|>");
  int64_t counted = 0, longest = 0;
  for (const auto& c : convs)
    longest = std::max<int64_t>(longest, lm::encode_chatml(tok, c)->ids.size() + 1);
  for (int64_t r = 0; r < whole->rows(); ++r) {
    // Every row begins where a conversation begins (none here is longer than a row).
    if (longest <= T) CHECK(whole->ids[r * T] == start);
    for (int64_t j = 0; j < T; ++j) {
      const auto l = whole->labels[r * T + j];
      if (j == 0) CHECK(l == -100);
      if (l >= 0) {
        CHECK(l == whole->ids[r * T + j]);
        ++counted;
      }
    }
  }
  REQUIRE(longest <= T);
  CHECK(counted == whole->target_tokens);
  // First-fit decreasing fills rows well: at most half again as many rows as the stream.
  CHECK(whole->rows() <= stream->rows() * 3 / 2 + 1);
  // Rows shorter than some conversations: those are cut (overlapping by one token), and still
  // every target counts once.
  auto cut = tr::pack_conversations(tok, convs, 48, tr::Packing::kConversations);
  REQUIRE(cut.is_ok());
  int64_t cut_counted = 0;
  for (auto l : cut->labels) cut_counted += l >= 0;
  CHECK(cut_counted == cut->target_tokens);
}

TEST_CASE("argument-value targets are flagged the same in every packing and survive a save",
          "[data]") {
  TempDir tmp;
  auto [tok, convs] = task_data_and_tokenizer(tmp, 40);
  int64_t want = 0;
  for (const auto& c : convs) {
    auto enc = lm::encode_chatml(tok, c);
    want += std::count(enc->loss_mask.begin(), enc->loss_mask.end(), 2);
  }
  REQUIRE(want > 0);
  for (auto packing : {tr::Packing::kStream, tr::Packing::kConversations}) {
    auto p = tr::pack_conversations(tok, convs, 160, packing);
    REQUIRE(p.is_ok());
    REQUIRE(p->argument.size() == p->labels.size());
    int64_t flagged = 0;
    for (size_t i = 0; i < p->argument.size(); ++i) {
      if (!p->argument[i]) continue;
      CHECK(p->labels[i] >= 0);  // only targets are flagged
      ++flagged;
    }
    CHECK(flagged == want);
    tr::save_packed(tmp.path / "p.bin", *p);
    auto back = tr::load_packed(tmp.path / "p.bin");
    REQUIRE(back.is_ok());
    CHECK(back->ids == p->ids);
    CHECK(back->labels == p->labels);
    CHECK(back->argument == p->argument);
  }
  // A file cut short is refused, not read as a smaller data set.
  fs::resize_file(tmp.path / "p.bin", fs::file_size(tmp.path / "p.bin") - 1);
  CHECK_FALSE(tr::load_packed(tmp.path / "p.bin").is_ok());
}
