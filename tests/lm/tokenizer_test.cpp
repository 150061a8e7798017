// The byte-level BPE tokenizer against the `tokenizers` library's own output, and its errors.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lm/tokenizer.hpp"
#include "lm_test_util.hpp"

using namespace llmops::lm;

TEST_CASE("tokenizer-bpe reproduces the library's ids and decoded text", "[lm][tokenizer]") {
  auto tok = Tokenizer::load(hf_fixture("tokenizer-bpe") / "tokenizer.json");
  INFO(tok.status().message());
  REQUIRE(tok.is_ok());
  std::ifstream in(hf_fixture("tokenizer-bpe") / "expected.json");
  auto cases = nlohmann::json::parse(in);
  REQUIRE(cases.size() >= 20);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    INFO("text: " << text);
    CHECK(tok->encode(text) == c["ids"].get<std::vector<int64_t>>());
    CHECK(tok->decode(c["ids"].get<std::vector<int64_t>>()) == c["decoded"].get<std::string>());
  }
  CHECK(tok->token_to_id("<|im_start|>") == 1);
  CHECK(tok->is_special(2));
  CHECK(tok->vocab_size() == 400);
  CHECK(tok->decode({1, 2}, /*skip_special_tokens=*/false) == "<|im_start|><|im_end|>");
}

TEST_CASE("invalid UTF-8 decodes as the Rust library does", "[lm][tokenizer]") {
  CHECK(utf8_lossy("ab") == "ab");
  CHECK(utf8_lossy("\xE6\x97") == "\xEF\xBF\xBD");  // truncated 3-byte sequence
  CHECK(utf8_lossy("a\xFF"
                   "b") ==
        "a\xEF\xBF\xBD"
        "b");                                                                   // invalid byte
  CHECK(utf8_lossy("\xE6\x97\xA5") == "\xE6\x97\xA5");                          // valid
  CHECK(utf8_lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST_CASE("unsupported or malformed tokenizer files are refused clearly", "[lm][tokenizer]") {
  auto r = Tokenizer::parse(R"({"model": {"type": "Unigram", "vocab": []}})", "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("t.json") && Catch::Contains("Unigram"));
  r = Tokenizer::parse("{not json", "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("invalid JSON"));
  r = Tokenizer::parse(R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                           "pre_tokenizer": {"type": "Metaspace"}})",
                       "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("Metaspace"));
  CHECK_FALSE(Tokenizer::load("/nonexistent/tokenizer.json").is_ok());
}

TEST_CASE("a TemplateProcessing post-processor adds its tokens", "[lm][tokenizer]") {
  auto r = Tokenizer::parse(R"({
    "added_tokens": [{"id": 3, "content": "<s>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [3], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})",
                            "t.json");
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  CHECK(r->encode("abab") == std::vector<int64_t>{3, 2, 2});
  CHECK(r->encode("abab", false) == std::vector<int64_t>{2, 2});
  CHECK(r->decode({3, 2, 0}) == "aba");
}

TEST_CASE("tokenizer.json is bounded: ids, nesting, file size, non-regular files",
          "[lm][tokenizer][limits]") {
  auto with_vocab = [](const std::string& vocab, const std::string& extra = "") {
    return R"({"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},)" + extra +
           R"("model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": []}})";
  };
  REQUIRE(Tokenizer::parse(with_vocab(R"({"a": 0, "b": 1})"), "t.json").is_ok());
  // A negative id was written at id_to_tok[-1] (memory corruption).
  auto r = Tokenizer::parse(with_vocab(R"({"a": 0, "b": -1})"), "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() == "t.json: vocab id -1 of token 'b' is out of range (0 to 2^31-1)");
  // One large id made the id table that long: 2^30 strings (32 GB) for a 100-byte file.
  r = Tokenizer::parse(with_vocab(R"({"a": 0, "b": 1073741824})"), "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() ==
        "t.json: vocab id 1073741824 is far beyond the 2 tokens of the vocab (ids must be below "
        "1028)");
  r = Tokenizer::parse(
      with_vocab(R"({"a": 0})", R"("added_tokens": [{"id": 4294967296, "content": "<s>"}],)"),
      "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("added token id 4294967296 is out of range"));
  // An id past 64 bits parses as a float: converting it was undefined (found by the fuzzer).
  r = Tokenizer::parse(with_vocab(R"({"a": 0, "b": 10737111111111111111111141825})"), "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("vocab id 1.073711111111111e+28 of token 'b' "
                                                   "is out of range"));
  r = Tokenizer::parse(with_vocab(R"({"a": 0, "b": 1.5})"), "t.json");
  REQUIRE_FALSE(r.is_ok());
  // Nested Sequence pre-tokenizers are followed recursively.
  std::string deep = R"({"type": "Sequence", "pretokenizers": [)";
  std::string nest;
  for (int i = 0; i < 40; ++i) nest += deep;
  nest += R"({"type": "ByteLevel"})";
  for (int i = 0; i < 40; ++i) nest += "]}";
  r = Tokenizer::parse(R"({"pre_tokenizer": )" + nest +
                           R"(, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
                       "t.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::StartsWith("t.json: JSON nests deeper than 64 levels"));

  TempDir tmp;
  // A FIFO or a device is refused before it is read (/dev/zero was read until memory ran out).
  auto dev = Tokenizer::load("/dev/zero");
  REQUIRE_FALSE(dev.is_ok());
  CHECK(dev.status().message() == "/dev/zero: not a regular file (tokenizer.json must be one)");
  const auto fifo = tmp.path / "fifo.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_FALSE(Tokenizer::load(fifo).is_ok());
  // A (sparse) file over 256 MiB is refused by its size, unread.
  const auto big = tmp.path / "tokenizer.json";
  std::ofstream(big) << "{";
  std::filesystem::resize_file(big, (uint64_t{256} << 20) + 1);
  auto b = Tokenizer::load(big);
  REQUIRE_FALSE(b.is_ok());
  CHECK_THAT(b.status().message(),
             Catch::Contains("268435457 bytes, more than the 256 MiB a tokenizer.json may have"));
}
