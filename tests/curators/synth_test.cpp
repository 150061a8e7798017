// curator/synthetic-tasks generator: determinism, exact dirt counts, learnable structure.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "conversation.hpp"
#include "synth.hpp"

using namespace llmops::curators;

namespace {
std::pair<std::string, nlohmann::json> gen(SynthOptions o) {
  std::ostringstream out;
  auto r = generate_synthetic(o, out);
  REQUIRE(r.is_ok());
  return {out.str(), nlohmann::json::parse(r->manifest_json)};
}
std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}
}  // namespace

TEST_CASE("synthetic: the same seed gives the same bytes, another seed others", "[synth]") {
  SynthOptions o;
  o.count = 300;
  auto [a, ma] = gen(o);
  auto [b, mb] = gen(o);
  CHECK(a == b);
  CHECK(ma == mb);
  o.seed = 43;
  auto [c, mc] = gen(o);
  CHECK(a != c);
}

TEST_CASE("synthetic: writes count lines with the dirt the manifest counts", "[synth]") {
  SynthOptions o;
  o.count = 1000;
  auto [text, m] = gen(o);
  auto lines = lines_of(text);
  REQUIRE(lines.size() == 1000);
  CHECK(m["lines"] == 1000);
  CHECK(m["dirt"]["exact_duplicate"] == 30);
  CHECK(m["dirt"]["malformed_json"] == 10);
  int bad_json = 0, bad_utf8 = 0;
  for (const auto& l : lines) {
    auto p = parse_line(l);
    if (!p.ok && p.reason == std::string(reason::kMalformedJson)) ++bad_json;
    if (!p.ok && p.reason == std::string(reason::kInvalidUtf8)) ++bad_utf8;
  }
  CHECK(bad_json == 10);
  CHECK(bad_utf8 == 10);
}

TEST_CASE("synthetic: clean conversations are well-formed with exact tool arguments", "[synth]") {
  SynthOptions o;
  o.count = 200;
  o.exact_duplicate_rate = o.near_duplicate_rate = o.pii_rate = o.malformed_json_rate = 0;
  o.invalid_utf8_rate = o.empty_turn_rate = o.wrong_order_rate = o.overlong_rate = 0;
  o.off_topic_rate = 0;
  auto [text, m] = gen(o);
  int tool_calls = 0;
  for (const auto& l : lines_of(text)) {
    auto p = parse_line(l);
    REQUIRE(p.ok);
    CHECK(check_structure(p.conv) == "");
    CHECK(p.conv.messages.front().role == "system");
    for (const auto& msg : p.conv.messages)
      for (const auto& t : msg.tool_calls) {
        ++tool_calls;
        auto args = nlohmann::ordered_json::parse(t.arguments);
        CHECK(args.dump() == t.arguments);  // compact, fixed key order
      }
  }
  CHECK(tool_calls > 150);
  CHECK(m["intents"].size() > 10);
}

TEST_CASE("synthetic: production-shift adds the new intents as reviewed corrections", "[synth]") {
  SynthOptions o;
  o.count = 300;
  o.scenario = "production-shift";
  auto [text, m] = gen(o);
  bool recurring = false, subtask = false, bulk = false;
  for (const auto& [k, v] : m["intents"].items()) {
    recurring |= k.find("create_recurring_task") != std::string::npos;
    subtask |= k.find("add_subtask") != std::string::npos;
    bulk |= k.find("bulk_update") != std::string::npos;
  }
  CHECK((recurring && subtask && bulk));
  CHECK(m["sources"]["reviewed_correction"].get<int>() > 50);
  SynthOptions base;
  base.count = 300;
  auto [btext, bm] = gen(base);
  CHECK(btext.find("create_recurring_task") == std::string::npos);
}

TEST_CASE("synthetic: bad options are refused", "[synth]") {
  std::ostringstream out;
  SynthOptions o;
  o.scenario = "nope";
  CHECK_FALSE(generate_synthetic(o, out).is_ok());
  o = {};
  o.reference_date = "June 3";
  CHECK_FALSE(generate_synthetic(o, out).is_ok());
  o = {};
  o.count = 10;
  o.exact_duplicate_rate = 0.9;
  CHECK_FALSE(generate_synthetic(o, out).is_ok());
}
