// The byte-level BPE tokenizer against the `tokenizers` library's own output, and its errors.
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
