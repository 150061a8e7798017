// safetensors round trips and the errors a truncated or corrupt file must give.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "lm/safetensors.hpp"
#include "lm_test_util.hpp"

using namespace llmops::lm;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}
std::string with_header(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}
}  // namespace

TEST_CASE("safetensors round trip keeps every dtype, shape and value", "[lm][safetensors]") {
  TempDir tmp;
  std::map<std::string, RawTensor> t;
  t["f32"] = RawTensor::from_float({2, 3}, {1, -2, 3.5f, 0, 1e-8f, -65504});
  t["f16"] = RawTensor::from_float({3}, {1.5f, -0.25f, 65504}, DType::kF16);
  t["bf16"] = RawTensor::from_float({2}, {3.140625f, -2}, DType::kBF16);
  t["i64"] = RawTensor::from_int64({2, 2}, {1, -2, int64_t{1} << 40, 7});
  RawTensor i32;
  i32.dtype = DType::kI32;
  i32.shape = {2};
  int32_t v[2] = {-5, 9};
  i32.data.resize(8);
  std::memcpy(i32.data.data(), v, 8);
  t["i32"] = i32;
  t["empty"] = RawTensor::from_float({0, 4}, {});
  const auto path = tmp.path / "a.safetensors";
  REQUIRE(write_safetensors(path, t, {{"format", "pt"}, {"note", "x"}}).is_ok());
  auto r = read_safetensors(path);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  CHECK(r->metadata.at("format") == "pt");
  CHECK(r->tensors.size() == t.size());
  for (const auto& [name, want] : t) {
    const auto& got = r->tensors.at(name);
    CHECK(got.dtype == want.dtype);
    CHECK(got.shape == want.shape);
    CHECK(got.data == want.data);
  }
  CHECK(r->tensors.at("f16").to_float() == std::vector<float>{1.5f, -0.25f, 65504});
  CHECK(r->tensors.at("bf16").to_float() == std::vector<float>{3.140625f, -2});
  CHECK(r->tensors.at("i32").to_int64() == std::vector<int64_t>{-5, 9});
  // The header is 8-byte aligned, as the Python library writes and expects.
  uint64_t n;
  std::memcpy(&n, slurp(path).data(), 8);
  CHECK(n % 8 == 0);
  auto h = read_safetensors_header(path);
  REQUIRE(h.is_ok());
  CHECK(h->tensors.at("f32").shape == std::vector<int64_t>{2, 3});
}

TEST_CASE("the fixtures written by the Python library read back", "[lm][safetensors]") {
  auto r = read_safetensors(hf_fixture("tiny-llama") / "expected.safetensors");
  REQUIRE(r.is_ok());
  CHECK(r->tensors.at("input_ids").dtype == DType::kI64);
  CHECK(r->tensors.at("logits").shape == std::vector<int64_t>{2, 12, 320});
  TempDir tmp;  // and our writer reproduces the Python library's bytes exactly
  REQUIRE(write_safetensors(tmp.path / "x.safetensors", r->tensors, r->metadata).is_ok());
  CHECK(read_safetensors(tmp.path / "x.safetensors")->tensors.at("logits").data ==
        r->tensors.at("logits").data);
}

TEST_CASE("truncated and corrupt safetensors files give clear errors", "[lm][safetensors]") {
  TempDir tmp;
  const auto good = slurp(hf_fixture("tiny-llama") / "expected.safetensors");
  const auto path = tmp.path / "bad.safetensors";
  auto error_of = [&](const std::string& bytes) {
    spit(path, bytes);
    auto r = read_safetensors(path);
    REQUIRE_FALSE(r.is_ok());
    auto h = read_safetensors_header(path);
    CHECK_FALSE(h.is_ok());
    CHECK_THAT(r.status().message(), Catch::Contains(path.string()));
    return r.status().message();
  };
  CHECK_THAT(error_of(good.substr(0, 5)), Catch::Contains("shorter than the header"));
  CHECK_THAT(error_of(good.substr(0, 40)), Catch::Contains("exceeds the file size"));
  CHECK_THAT(error_of(good.substr(0, good.size() - 10)), Catch::Contains("truncated"));
  CHECK_THAT(error_of(std::string(8, '\xff') + "{}"), Catch::Contains("implausibly large"));
  CHECK_THAT(error_of(with_header("{\"a\": [1,", "")), Catch::Contains("corrupt header JSON"));
  CHECK_THAT(error_of(with_header("[]", "")), Catch::Contains("not a JSON object"));
  CHECK_THAT(error_of(with_header(R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", "x")),
             Catch::Contains("unsupported dtype 'Q8'"));
  CHECK_THAT(
      error_of(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd")),
      Catch::Contains("need 8"));
  CHECK_THAT(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                      "b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                                  "abcdef")),
             Catch::Contains("overlaps"));
  CHECK_THAT(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                  "abcdefgh")),
             Catch::Contains("trailing bytes"));
  CHECK_THAT(
      error_of(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
      Catch::Contains("negative"));
  CHECK_FALSE(read_safetensors(tmp.path / "missing.safetensors").is_ok());
}

TEST_CASE("safetensors headers are bounded: nesting, sizes that overflow, non-regular files",
          "[lm][safetensors][limits]") {
  TempDir tmp;
  const auto path = tmp.path / "bad.safetensors";
  auto error_of = [&](const std::string& bytes) {
    spit(path, bytes);
    auto h = read_safetensors_header(path);
    CHECK_FALSE(h.is_ok());
    auto r = read_safetensors(path);
    REQUIRE_FALSE(r.is_ok());
    return r.status().message();
  };
  // Deep JSON costs ~100 bytes of memory a level: a 100 MB header of '[' would be gigabytes.
  CHECK_THAT(
      error_of(with_header(R"({"a":)" + std::string(20, '[') + std::string(20, ']') + "}", "")),
      Catch::Contains("header JSON nests deeper than 8 levels (at header byte 12)"));
  // 2^32 * 2^32 * 4 bytes wrapped to 0 and matched empty data_offsets: a tensor of 2^66 bytes
  // was accepted (and its numel() overflowed).
  CHECK_THAT(
      error_of(with_header(
          R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", "")),
      Catch::Contains("tensor 'a': shape [4294967296,4294967296,4] is implausibly large"));
  CHECK_THAT(error_of(with_header(R"({"a":{"dtype":"U8","shape":[)" + std::string(40, '1') +
                                      R"(],"data_offsets":[0,1]}})",
                                  "x")),
             Catch::Contains("shape has a non-integer or negative"));  // beyond uint64
  std::string rank = R"({"a":{"dtype":"U8","shape":[1)";
  for (int i = 0; i < 40; ++i) rank += ",1";
  CHECK_THAT(error_of(with_header(rank + R"(],"data_offsets":[0,1]}})", "x")),
             Catch::Contains("shape has 41 dimensions (at most 32)"));

  // A FIFO with no writer: opening it would wait forever, and its size is unknown.
  const auto fifo = tmp.path / "fifo.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = read_safetensors(fifo);
  REQUIRE_FALSE(f.is_ok());
  CHECK(f.status().message() ==
        fifo.string() + ": not a regular file (a safetensors file must be one)");
  CHECK_FALSE(read_safetensors_header(fifo).is_ok());
  CHECK_FALSE(read_safetensors("/dev/zero").is_ok());
}
