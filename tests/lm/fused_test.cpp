// The fused kernels (plugins/lm/fused.*) against the ATen formulas they replace: forward values
// and the gradients autograd computes through the reference, on random inputs.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "lm/fused.hpp"
#include "lm/llama.hpp"

using namespace llmops::lm;

namespace {

at::Generator gen(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Tensor rand(at::IntArrayRef shape, at::Generator& g) {
  return at::randn(shape, g, at::TensorOptions().dtype(at::kFloat));
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

at::Tensor reference_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
}

at::Tensor reference_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t T = x.size(1), D = x.size(3), h = D / 2;
  auto xt = x.transpose(1, 2);  // [B, n, T, D]
  auto c = cos.view({cos.size(0), 1, T, D}), s = sin.view({sin.size(0), 1, T, D});
  return xt * c + at::cat({-xt.slice(-1, h), xt.slice(-1, 0, h)}, -1) * s;
}

}  // namespace

TEST_CASE("fused RMSNorm matches the reference forward and backward", "[lm][fused]") {
  auto g = gen(1);
  for (int64_t H : {8, 64, 260}) {
    INFO("hidden " << H);
    auto x0 = rand({3, 5, H}, g), w0 = rand({H}, g) + 1, dy = rand({3, 5, H}, g);
    auto x1 = x0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(true);
    auto x2 = x0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true);
    auto y1 = fused::rms_norm(x1, w1, 1e-6);
    auto y2 = reference_rms_norm(x2, w2, 1e-6);
    CHECK(max_diff(y1, y2) < 1e-5);
    (y1 * dy).sum().backward();
    (y2 * dy).sum().backward();
    CHECK(max_diff(x1.grad(), x2.grad()) < 1e-4);
    CHECK(max_diff(w1.grad(), w2.grad()) < 1e-4);
  }
}

TEST_CASE("fused RMSNorm skips the weight's gradient when the weight is frozen", "[lm][fused]") {
  auto g = gen(2);
  auto x = rand({4, 16}, g).requires_grad_(true), w = rand({16}, g);
  fused::rms_norm(x, w, 1e-5).sum().backward();
  CHECK(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("fused rotary embedding is bit-identical forward and matches backward", "[lm][fused]") {
  auto g = gen(3);
  const int64_t B = 2, T = 5, n = 3, D = 8;
  for (int64_t C : {int64_t{1}, B}) {
    INFO("tables per sequence: " << C);
    auto cos = rand({C, T, D}, g), sin = rand({C, T, D}, g);
    auto x0 = rand({B, T, n, D}, g), dy = rand({B, n, T, D}, g);
    auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    auto y1 = fused::rope(x1, cos, sin);
    auto y2 = reference_rope(x2, cos, sin);
    CHECK(y1.is_contiguous());
    CHECK(max_diff(y1, y2) == 0);
    (y1 * dy).sum().backward();
    (y2 * dy).sum().backward();
    CHECK(max_diff(x1.grad(), x2.grad()) < 1e-5);
  }
}

TEST_CASE("fused causal softmax matches mask plus softmax, with and without a past",
          "[lm][fused]") {
  auto g = gen(4);
  for (int64_t past : {0, 3}) {
    INFO("past " << past);
    const int64_t T = 6, S = past + T;
    auto x0 = rand({2, 3, T, S}, g) * 4, dy = rand({2, 3, T, S}, g);
    auto mask = at::full({T, S}, -std::numeric_limits<float>::infinity()).triu(past + 1);
    auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    auto y1 = fused::causal_softmax(x1);
    auto y2 = at::softmax(x2 + mask, -1);
    CHECK(max_diff(y1, y2) < 1e-6);
    CHECK(y1.index({0, 0, 0}).slice(0, past + 1).abs().max().item<float>() == 0);
    (y1 * dy).sum().backward();
    (y2 * dy).sum().backward();
    CHECK(max_diff(x1.grad(), x2.grad()) < 1e-5);
  }
}

TEST_CASE("fused causal softmax keeps packed documents apart, forward and backward",
          "[lm][fused]") {
  auto g = gen(6);
  const int64_t B = 2, H = 3, T = 7;
  // Row 0: documents at 0..2, 3..6; row 1: one document, then one starting at 5.
  auto ids = at::tensor({1, 1, 9, 1, 1, 1, 9, 1, 1, 1, 1, 9, 1, 1}, at::kLong).view({B, T});
  auto starts = llmops::lm::segment_starts(ids, 9);
  CHECK(starts[0].equal(at::tensor({0, 0, 0, 3, 3, 3, 3}, at::kLong)));
  CHECK(starts[1].equal(at::tensor({0, 0, 0, 0, 0, 5, 5}, at::kLong)));
  auto keys = at::arange(T, at::kLong).view({1, 1, 1, T});
  auto mask = at::full({T, T}, -std::numeric_limits<float>::infinity()).triu(1).view({1, 1, T, T});
  mask =
      mask.masked_fill(keys.lt(starts.view({B, 1, T, 1})), -std::numeric_limits<float>::infinity());
  auto x0 = rand({B, H, T, T}, g) * 4, dy = rand({B, H, T, T}, g);
  auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
  auto y1 = fused::causal_softmax(x1, starts);
  auto y2 = at::softmax(x2 + mask, -1);
  CHECK(max_diff(y1, y2) < 1e-6);
  CHECK(y1.index({0, 1, 4}).slice(0, 0, 3).abs().max().item<float>() == 0);
  (y1 * dy).sum().backward();
  (y2 * dy).sum().backward();
  CHECK(max_diff(x1.grad(), x2.grad()) < 1e-5);
  // The unfused path (not float32) gives the same probabilities.
  auto y3 = fused::causal_softmax(x0.to(at::kDouble), starts);
  CHECK(max_diff(y3.to(at::kFloat), y2.detach()) < 1e-6);
  CHECK_THROWS(fused::causal_softmax(x0, starts.slice(1, 0, 5)));
}

TEST_CASE("fused cross-entropy matches ATen's, ignored labels included", "[lm][fused]") {
  auto g = gen(5);
  const int64_t N = 7, V = 50;
  auto x0 = rand({N, V}, g) * 3;
  auto labels = at::randint(V, {N}, g, at::kLong);
  labels[2] = -100;
  labels[5] = -100;
  for (bool mean : {true, false}) {
    INFO("mean " << mean);
    auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    auto l1 = fused::cross_entropy(x1, labels, mean);
    auto l2 = at::cross_entropy_loss(x2, labels, {},
                                     mean ? at::Reduction::Mean : at::Reduction::Sum, -100);
    CHECK(std::abs(l1.item<double>() - l2.item<double>()) < 1e-5);
    (l1 * 1.5).backward();
    (l2 * 1.5).backward();
    CHECK(max_diff(x1.grad(), x2.grad()) < 1e-6);
    CHECK(x1.grad()[2].abs().max().item<float>() == 0);
  }
  CHECK(std::isnan(fused::cross_entropy(x0, at::full({N}, -100, at::kLong), true).item<double>()));
  labels[0] = V;
  CHECK_THROWS_WITH(fused::cross_entropy(x0, labels, true),
                    Catch::Contains("outside the vocabulary"));
}

TEST_CASE("a document packed after another gets the logits it gets alone", "[lm][fused]") {
  LlamaConfig c;
  c.vocab_size = 40;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  auto model = LlamaModel::init(c, 3);
  REQUIRE(model.is_ok());
  at::NoGradGuard no_grad;
  const int64_t sep = 0;
  auto first = at::tensor({5, 6, 7, 0}, at::kLong);
  auto second = at::tensor({8, 9, 5, 6, 11}, at::kLong);
  auto packed = at::cat({first, second}).view({1, 9});
  auto alone = model->forward(second.view({1, 5}));
  auto masked = model->forward(packed, nullptr, false, segment_starts(packed, sep));
  auto plain = model->forward(packed);
  // Rotary embeddings are relative, so the shift of positions changes nothing once the first
  // document is out of view; without the mask the second document sees the first.
  CHECK(max_diff(masked.slice(1, 4), alone) < 1e-5);
  CHECK(max_diff(plain.slice(1, 4), alone) > 1e-3);
  CHECK(max_diff(masked.slice(1, 0, 4), plain.slice(1, 0, 4)) < 1e-6);
}
