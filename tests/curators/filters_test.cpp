// The curator filters on hand-written cases: what must be kept, redacted and rejected.
#include <catch2/catch.hpp>

#include "conversation.hpp"
#include "minhash.hpp"
#include "plugins/common/pii.hpp"
#include "quality.hpp"
#include "text.hpp"

using namespace llmops::curators;
using namespace llmops::common;

namespace {
std::string redact(const std::string& s, PiiCounts* out = nullptr) {
  PiiCounts c;
  auto r = redact_pii(s, c);
  if (out) *out = c;
  return r;
}
}  // namespace

TEST_CASE("utf8: well-formed text passes, broken sequences fail", "[filters]") {
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("Zoë, José, 日本, 🎉"));
  CHECK_FALSE(valid_utf8("bad \xff byte"));
  CHECK_FALSE(valid_utf8("truncated \xc3"));
  CHECK_FALSE(valid_utf8("surrogate \xed\xa0\x80"));
  CHECK_FALSE(valid_utf8("overlong \xc0\xaf"));
  CHECK(sanitize_utf8("a\xffz") == "a\xEF\xBF\xBDz");
}

TEST_CASE("pii: e-mails, phones, IPs, cards and keys become typed placeholders", "[filters]") {
  PiiCounts c;
  CHECK(redact("mail jane.doe+x@example.co.uk now", &c) == "mail <EMAIL> now");
  CHECK(c.email == 1);
  CHECK(redact("call +1 415-555-0132 or (415) 555-0198 or 415.555.0143", &c) ==
        "call <PHONE> or <PHONE> or <PHONE>");
  CHECK(c.phone == 3);
  CHECK(redact("+44 20 7946 0958") == "<PHONE>");
  CHECK(redact("server 192.168.1.23, v6 2001:db8::8a2e:370:7334 and ::1", &c) ==
        "server <IP>, v6 <IP> and <IP>");
  CHECK(c.ipv4 == 1);
  CHECK(c.ipv6 == 2);
  CHECK(redact("card 4539 1488 0343 6467 ok", &c) == "card <CREDIT_CARD> ok");
  CHECK(c.credit_card == 1);
  CHECK(
      redact("key sk-abcdefghijklmnopqrstuvwxyz123456 and ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123",
             &c) == "key <API_KEY> and <API_KEY>");
  CHECK(c.api_key == 2);
  CHECK(redact("AKIAIOSFODNN7EXAMPLE") == "<API_KEY>");
  CHECK(redact("password: hunter2hunter2") == "password: <API_KEY>");
  CHECK(redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz.123") ==
        "Authorization: Bearer <API_KEY>");
}

TEST_CASE("pii: look-alikes are kept", "[filters]") {
  PiiCounts c;
  const std::vector<std::string> keep = {
      "due 2024-06-04 at 10:30:45",  // date and time
      "task_4821 and #1234",         // ids
      "version 1.2.3",               // not four parts
      "card 4539 1488 0343 6468",    // fails Luhn
      "at 12:30 we meet",            // time
      "from 2024-06-03 to 2024-06-10",
      "email me @ the office",
      "meeting 1:1 with Dana",
      "call 555-0199",  // too few digits
  };
  for (const auto& s : keep) CHECK(redact(s, &c) == s);
  CHECK(c.total() == 0);
  CHECK(luhn_ok("4539148803436467"));
  CHECK_FALSE(luhn_ok("4539148803436468"));
}

TEST_CASE("quality: Gopher-style rules", "[filters]") {
  QualityOptions q;
  CHECK(quality_check("Create a task to buy milk tomorrow\nDone! I created it.", q) == "");
  CHECK(quality_check("ok", q).find("words") == 0);
  CHECK(quality_check("#todo #work #life #home hello there my good friend", q).find("symbol") == 0);
  CHECK(quality_check("123 456 789 901 112 223 334 445 556 667", q).find("words with a letter") ==
        0);
  CHECK(quality_check("a b c d e f g h i j", q).find("mean word length") == 0);
  CHECK(
      quality_check("same thing\nsame thing\nsame thing\nsame thing", q).find("duplicated turns") ==
      0);
  std::string spam;
  for (int i = 0; i < 60; ++i) spam += "buy cheap pills now ";
  CHECK(quality_check(spam, q) != "");
}

TEST_CASE("parse: OpenAI, ShareGPT and Alpaca lines normalise to OpenAI chat", "[filters]") {
  auto o = parse_line(
      R"({"messages":[{"role":"user","content":"hi there"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"list_tasks","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"[]"},{"role":"assistant","content":"None."}]})");
  REQUIRE(o.ok);
  CHECK(o.format == Format::kOpenAI);
  CHECK(check_structure(o.conv) == "");
  auto again = parse_line(to_jsonl(o.conv));
  REQUIRE(again.ok);
  CHECK(to_jsonl(again.conv) == to_jsonl(o.conv));

  auto s = parse_line(
      R"({"conversations":[{"from":"system","value":"be nice"},{"from":"human","value":"hello"},{"from":"gpt","value":"hi!"}]})");
  REQUIRE(s.ok);
  CHECK(s.format == Format::kShareGPT);
  CHECK(
      to_jsonl(s.conv) ==
      R"({"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello"},{"role":"assistant","content":"hi!"}]})");

  auto a = parse_line(R"({"instruction":"Summarise","input":"some text","output":"short"})");
  REQUIRE(a.ok);
  CHECK(a.format == Format::kAlpaca);
  CHECK(
      to_jsonl(a.conv) ==
      R"({"messages":[{"role":"user","content":"Summarise\n\nsome text"},{"role":"assistant","content":"short"}]})");
}

TEST_CASE("parse: bad lines are rejected with a reason, never a throw", "[filters]") {
  CHECK(parse_line("").reason == std::string(reason::kEmptyLine));
  CHECK(parse_line("{\"messages\":[").reason == std::string(reason::kMalformedJson));
  CHECK(parse_line("[1,2]").reason == std::string(reason::kMalformedJson));
  CHECK(parse_line("{\"text\":\"x\"}").reason == std::string(reason::kUnknownFormat));
  CHECK(parse_line("{\"messages\":5}").reason == std::string(reason::kStructure));
  CHECK(parse_line("{\"messages\":[{\"role\":1}]}").reason == std::string(reason::kStructure));
  CHECK(parse_line("{\"messages\":[\"x\"]}").reason == std::string(reason::kStructure));
  CHECK(parse_line("{\"conversations\":[{\"from\":\"alien\",\"value\":\"x\"}]}").reason ==
        std::string(reason::kStructure));
  CHECK(parse_line("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}").reason ==
        std::string(reason::kInvalidUtf8));
}

TEST_CASE("structure: roles, order, empty turns and tool calls", "[filters]") {
  auto why = [](const std::string& line) {
    auto p = parse_line(line);
    REQUIRE(p.ok);
    return check_structure(p.conv);
  };
  CHECK(why(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})") ==
        "");
  CHECK(why(R"({"messages":[{"role":"assistant","content":"b"},{"role":"user","content":"a"}]})")
            .find("before the user") != std::string::npos);
  CHECK(
      why(R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})")
          .find("two user turns") != std::string::npos);
  CHECK(why(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":""}]})")
            .find("empty assistant") != std::string::npos);
  CHECK(
      why(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{oops"}}]},{"role":"tool","tool_call_id":"c","content":"x"},{"role":"assistant","content":"b"}]})")
          .find("not a JSON object") != std::string::npos);
  CHECK(
      why(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"b"}]})")
          .find("not answered") != std::string::npos);
  CHECK(why(R"({"messages":[{"role":"user","content":"a"},{"role":"wizard","content":"b"}]})")
            .find("unknown role") != std::string::npos);
  CHECK(why(R"({"messages":[{"role":"user","content":"a"}]})") == "no assistant turn");
}

TEST_CASE("minhash: near-identical texts collide, different ones do not", "[filters]") {
  MinHasher h(128, 5, 1);
  LshIndex lsh(128, 16, 0.8);
  std::vector<uint32_t> a, b, c;
  const std::string base =
      "user: please create a task to review the quarterly report by friday with high priority "
      "assistant: done i created review the quarterly report task 1234 due 2024-06-07 with high "
      "priority";
  h.signature(base, a);
  h.signature("hey, " + base, b);
  h.signature(
      "user: what is the weather like in berlin today assistant: sunny and warm, about "
      "twenty four degrees with a light breeze from the west all afternoon",
      c);
  CHECK(estimated_jaccard(a.data(), b.data(), 128) > 0.85);
  CHECK(estimated_jaccard(a.data(), c.data(), 128) < 0.2);
  CHECK(lsh.query(a) == -1);
  CHECK(lsh.insert(a) == 0);
  CHECK(lsh.query(b) == 0);
  CHECK(lsh.query(c) == -1);
  CHECK(normalize_text("  Hello \n\t World  ") == "hello world");
  CHECK(hash64("abc") == hash64("abc"));
  CHECK(hash64("abc") != hash64("abd"));
}
