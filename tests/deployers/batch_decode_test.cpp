// Batched decoding (lm::BatchGenerator, used by llmops-serve): concurrent requests decoded
// together give exactly what each gets alone from Model::generate (greedy: the same tokens;
// sampling: the same draws for the same seed), callbacks can stop one request without disturbing
// the others, and the server answers the same with --max-batch 8 as with --max-batch 1.
#include <atomic>
#include <catch2/catch.hpp>
#include <future>

#include "deployer_test_util.hpp"
#include "plugins/common/http_client.hpp"

#ifdef LLMOPS_HAVE_LM
#include "lm/batch.hpp"
#include "lm/model.hpp"
#endif

using namespace dtest;

namespace {

// Prompts of different lengths, so the batched sequences sit at different positions.
std::vector<std::vector<int64_t>> prompts(int n, int64_t vocab) {
  std::vector<std::vector<int64_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> p;
    for (int j = 0; j < 3 + 5 * i % 17; ++j) p.push_back((i * 131 + j * 17 + 1) % vocab);
    out.push_back(std::move(p));
  }
  return out;
}

// Runs `fn(i)` for i in [0, n) on n threads that start together; returns the results in order.
template <class F>
auto all_at_once(int n, F fn) {
  std::atomic<bool> go{false};
  std::vector<std::future<decltype(fn(0))>> fs;
  for (int i = 0; i < n; ++i)
    fs.push_back(std::async(std::launch::async, [&, i] {
      while (!go) std::this_thread::yield();
      return fn(i);
    }));
  go = true;
  std::vector<decltype(fn(0))> out;
  for (auto& f : fs) out.push_back(f.get());
  return out;
}

}  // namespace

#ifdef LLMOPS_HAVE_LM

TEST_CASE("batched decoding gives each request what it gets alone", "[deployers][batch]") {
  using namespace llmops::lm;
  auto tiny = Model::load(tiny_model());
  REQUIRE(tiny);
  LlamaConfig c;  // grouped-query attention and a wider model than the fixture
  c.vocab_size = 1024;
  c.hidden_size = 128;
  c.intermediate_size = 352;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 512;
  auto wide = Model::init(c, 3);
  REQUIRE(wide);

  for (const Model* model : {&*tiny, &*wide}) {
    const auto vocab = model->config().vocab_size;
    const int n = 12;
    const auto ps = prompts(n, vocab);
    auto options = [&](int i) {
      GenerationOptions o;
      o.max_new_tokens = 8 + 7 * (i % 5);  // sequences leave the batch at different steps
      if (i % 3 == 2) {                    // some sample, with their own seeds
        o.temperature = 0.8;
        o.top_p = 0.9;
        o.top_k = i % 2 ? 20 : 0;
        o.seed = 100 + static_cast<uint64_t>(i);
      }
      if (i % 4 == 1) o.stop_tokens = {ps[static_cast<size_t>(i)][0], 7};
      return o;
    };
    std::vector<std::vector<int64_t>> alone;
    for (int i = 0; i < n; ++i) {
      auto r = model->generate(ps[static_cast<size_t>(i)], options(i));
      REQUIRE(r);
      alone.push_back(*r);
    }
    BatchGenerator batch(*model, 8);
    // Concurrent bursts until the worker has really decoded several at once (bounded).
    for (int attempt = 0; attempt < 20 && batch.stats().max_rows < 2; ++attempt) {
      auto together = all_at_once(n, [&](int i) {
        auto r = batch.generate(ps[static_cast<size_t>(i)], options(i));
        return r ? *r : std::vector<int64_t>{-1};
      });
      for (int i = 0; i < n; ++i) {
        INFO("request " << i << " of attempt " << attempt);
        CHECK(together[static_cast<size_t>(i)] == alone[static_cast<size_t>(i)]);
      }
    }
    const auto st = batch.stats();
    CHECK(st.max_rows >= 2);
    CHECK(st.max_rows <= 8);
    CHECK(st.rows > st.steps);
  }
}

TEST_CASE("a batched request stops when its callback says so, the others go on",
          "[deployers][batch]") {
  using namespace llmops::lm;
  auto model = Model::load(tiny_model());
  REQUIRE(model);
  BatchGenerator batch(*model, 4);
  const auto ps = prompts(4, model->config().vocab_size);
  auto out = all_at_once(4, [&](int i) {
    GenerationOptions o;
    o.max_new_tokens = 40;
    int seen = 0;
    if (i == 0) o.on_token = [&](int64_t) { return ++seen < 3; };
    auto r = batch.generate(ps[static_cast<size_t>(i)], o);
    return r ? static_cast<int64_t>(r->size() - ps[static_cast<size_t>(i)].size()) : -1;
  });
  CHECK(out[0] == 3);
  for (int i = 1; i < 4; ++i) CHECK(out[static_cast<size_t>(i)] == 40);
  CHECK_FALSE(batch.generate({}, {}));
  CHECK_FALSE(batch.generate({model->config().vocab_size}, {}));
  CHECK(wait_until([&] { return batch.stats().running == 0; }, 10));  // the worker catches up
}

#endif

#ifdef LLMOPS_HAVE_SERVE

TEST_CASE("llmops-serve answers the same with and without batching", "[deployers][serve][batch]") {
  TempDir tmp1, tmp8;
  ServeProcess one(tmp1.path, {"--max-batch", "1", "--max-concurrency", "16"}, "single");
  ServeProcess many(tmp8.path, {"--max-batch", "8", "--max-concurrency", "16"}, "batched");
  REQUIRE(one.port != 0);
  REQUIRE(many.port != 0);
  const int n = 8;
  auto body = [](int i) {
    return chat_body("tiny", "add a task number " + std::to_string(i * 7) + " to buy milk", 12 + i,
                     {{"ignore_eos", true}});
  };
  auto content = [](const llmops::Result<llmops::common::HttpResponse>& r) -> std::string {
    if (!r || r->status != 200) return "HTTP error";
    return json::parse(r->body)["choices"][0]["message"]["content"];
  };
  std::vector<std::string> expected;
  for (int i = 0; i < n; ++i)
    expected.push_back(content(llmops::common::http_request(
        "127.0.0.1", static_cast<uint16_t>(one.port), "POST", "/v1/chat/completions", body(i))));
  auto largest = [&] {
    auto r = llmops::common::http_request("127.0.0.1", static_cast<uint16_t>(many.port), "GET",
                                          "/admin/status");
    if (!r || r->status != 200) return int64_t{-1};
    return json::parse(r->body)["versions"][0]["decoder"].value("largest_batch", int64_t{0});
  };
  for (int attempt = 0; attempt < 20 && largest() < 2; ++attempt) {
    auto got = all_at_once(n, [&](int i) {
      return content(llmops::common::http_request("127.0.0.1", static_cast<uint16_t>(many.port),
                                                  "POST", "/v1/chat/completions", body(i)));
    });
    for (int i = 0; i < n; ++i)
      CHECK(got[static_cast<size_t>(i)] == expected[static_cast<size_t>(i)]);
  }
  CHECK(largest() >= 2);
}

#endif
