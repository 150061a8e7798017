// Templates and `when:` expressions: rendering, typing, precedence, comparisons and errors.
#include <catch2/catch.hpp>

#include "engine/spec/template.hpp"

using llmops::engine::evaluate_condition;
using llmops::engine::evaluate_expression;
using llmops::engine::expression_refs;
using llmops::engine::find_templates;
using llmops::engine::JsonScope;
using llmops::engine::render_json;
using llmops::engine::render_string;
using nlohmann::json;

namespace {

JsonScope test_scope() {
  return JsonScope(json::parse(R"({
    "params": {"name": "world", "epochs": 3, "lr": 0.001, "flag": true, "off": false,
               "tags": ["a", "b"], "empty": ""},
    "steps": {"a": {"outputs": {"out": "/blobs/ab", "blessing": {"blessed": true}},
                    "metrics": {"count": 5, "loss": 0.25}},
              "my-step": {"metrics": {"acc": 0.9}}},
    "env": {"HOME": "/home/u"},
    "run": {"id": "r-42"}
  })"));
}

json eval(const std::string& expr) {
  auto scope = test_scope();
  auto r = evaluate_expression(expr, scope);
  INFO(expr << " -> " << r.status().message());
  REQUIRE(r.is_ok());
  return *r;
}

std::string eval_error(const std::string& expr) {
  auto scope = test_scope();
  auto r = evaluate_expression(expr, scope);
  INFO(expr);
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

}  // namespace

TEST_CASE("find_templates locates every template with its span", "[template]") {
  auto spans = find_templates("a ${{ params.x }} b ${{steps.s.outputs.o}}");
  REQUIRE(spans.is_ok());
  REQUIRE(spans->size() == 2);
  CHECK((*spans)[0].begin == 2);
  CHECK((*spans)[0].end == 17);
  CHECK((*spans)[0].expr == "params.x");
  CHECK((*spans)[1].expr == "steps.s.outputs.o");
  CHECK(find_templates("no templates here")->empty());
  // "}}" inside a string literal does not close the template.
  auto quoted = find_templates("${{ params.name == '}}' }}");
  REQUIRE(quoted.is_ok());
  CHECK((*quoted)[0].expr == "params.name == '}}'");
}

TEST_CASE("find_templates rejects unclosed and empty templates", "[template]") {
  auto unclosed = find_templates("hello ${{ params.name");
  REQUIRE_FALSE(unclosed.is_ok());
  CHECK(unclosed.status().message() ==
        "unclosed template '${{' at column 7 of 'hello ${{ params.name': close it with '}}'");
  auto empty = find_templates("x ${{  }}");
  REQUIRE_FALSE(empty.is_ok());
  CHECK(empty.status().message().find("empty template") != std::string::npos);
}

TEST_CASE("render_string substitutes and keeps single templates typed", "[template]") {
  auto scope = test_scope();
  CHECK(*render_string("hello ${{ params.name }}!", scope) == json("hello world!"));
  CHECK(*render_string("${{ params.epochs }}", scope) == json(3));
  CHECK(*render_string("${{ params.lr }}", scope) == json(0.001));
  CHECK(*render_string("${{ params.flag }}", scope) == json(true));
  CHECK(*render_string("${{ params.tags }}", scope) == json::array({"a", "b"}));
  CHECK(*render_string("${{ steps.a.outputs.blessing.blessed }}", scope) == json(true));
  CHECK(*render_string("n=${{ params.epochs }} f=${{ params.flag }} t=${{ params.tags }}", scope) ==
        json("n=3 f=true t=[\"a\",\"b\"]"));
  CHECK(*render_string("${{ env.HOME }}/x-${{ run.id }}", scope) == json("/home/u/x-r-42"));
  CHECK(*render_string("plain", scope) == json("plain"));
  // Surrounding text makes it a string even when the value is a number.
  CHECK(*render_string(" ${{ params.epochs }}", scope) == json(" 3"));
}

TEST_CASE("render_json walks arrays and objects", "[template]") {
  auto scope = test_scope();
  json in = json::parse(R"({"a": "${{ params.epochs }}", "b": ["x ${{ params.name }}", 4],
                           "c": {"d": "${{ steps.a.metrics.loss }}"}, "e": null})");
  auto out = render_json(in, scope);
  REQUIRE(out.is_ok());
  CHECK(*out == json::parse(R"({"a": 3, "b": ["x world", 4], "c": {"d": 0.25}, "e": null})"));
}

TEST_CASE("render reports unknown references", "[template]") {
  auto scope = test_scope();
  auto r = render_string("x ${{ params.nope }}", scope);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() ==
        "in expression 'params.nope': unknown reference 'params.nope' (nothing by that name "
        "exists yet)");
}

TEST_CASE("expressions: literals and references", "[expression]") {
  CHECK(eval("42") == json(42));
  CHECK(eval("-1.5") == json(-1.5));
  CHECK(eval("'it''s'") == json("it's"));
  CHECK(eval("\"a\\\"b\"") == json("a\"b"));
  CHECK(eval("true") == json(true));
  CHECK(eval("null").is_null());
  CHECK(eval("steps.my-step.metrics.acc") == json(0.9));
  CHECK(eval("steps.a.outputs.blessing.blessed") == json(true));
}

TEST_CASE("expressions: comparisons of numbers, strings and bools", "[expression]") {
  CHECK(eval("steps.a.metrics.count > 2") == json(true));
  CHECK(eval("steps.a.metrics.count >= 5") == json(true));
  CHECK(eval("steps.a.metrics.loss < 0.25") == json(false));
  CHECK(eval("steps.a.metrics.loss <= 0.25") == json(true));
  CHECK(eval("params.epochs == 3.0") == json(true));
  CHECK(eval("params.epochs != 3") == json(false));
  CHECK(eval("params.name == 'world'") == json(true));
  CHECK(eval("params.name < 'zebra'") == json(true));
  CHECK(eval("'abc' > 'abd'") == json(false));
  CHECK(eval("params.flag == true") == json(true));
  CHECK(eval("params.off != false") == json(false));
  CHECK(eval("null == null") == json(true));
  // A numeric string compares as a number against a number (env values, -p overrides).
  CHECK(eval("'10' > 9") == json(true));
  // Different types are simply unequal...
  CHECK(eval("params.name == 3") == json(false));
  // ...but cannot be ordered.
  CHECK(eval_error("params.name > 3") ==
        "in expression 'params.name > 3' at column 13: cannot compare string 'world' with number "
        "3 using '>'; only numbers with numbers and strings with strings are ordered");
  CHECK(eval_error("true < false").find("cannot compare bool true with bool false") !=
        std::string::npos);
}

TEST_CASE("expressions: precedence and short-circuit", "[expression]") {
  CHECK(eval("true || false && false") == json(true));  // && binds tighter
  CHECK(eval("(true || false) && false") == json(false));
  CHECK(eval("!false && true") == json(true));
  CHECK(eval("!(1 > 2)") == json(true));
  CHECK(eval("!!params.name") == json(true));
  CHECK(eval("params.epochs > 2 && params.name == 'world' || params.off") == json(true));
  // The right side is not evaluated when the left decides.
  CHECK(eval("false && params.missing") == json(false));
  CHECK(eval("true || params.missing") == json(true));
}

TEST_CASE("expressions: templates inside an expression are values", "[expression]") {
  CHECK(eval("${{ params.flag }} && ${{ steps.a.metrics.count }} > 2") == json(true));
  CHECK(eval("${{ params.name }} == 'world'") == json(true));
}

TEST_CASE("evaluate_condition applies truthiness", "[expression]") {
  auto scope = test_scope();
  CHECK(*evaluate_condition("", scope));
  CHECK(*evaluate_condition("${{ params.flag }}", scope));
  CHECK_FALSE(*evaluate_condition("params.off", scope));
  CHECK_FALSE(*evaluate_condition("params.empty", scope));
  CHECK_FALSE(*evaluate_condition("0", scope));
  CHECK(*evaluate_condition("params.tags", scope));
  CHECK(*evaluate_condition("${{ params.flag }} && ${{ steps.a.metrics.count }} > 2", scope));
  CHECK_FALSE(evaluate_condition("params.nope", scope).is_ok());
}

TEST_CASE("expression errors say where and what to do", "[expression]") {
  CHECK(eval_error("params.x = 1") ==
        "in expression 'params.x = 1' at column 10: unexpected character '=' (use == to compare)");
  CHECK(eval_error("a &&") ==
        "in expression 'a &&' at column 5: expected a value (a number, a 'string', true, false, "
        "null or a reference such as params.x), found end of expression");
  CHECK(eval_error("(1 > 2") ==
        "in expression '(1 > 2' at column 7: expected ')' to close the '(' at column 1, found end "
        "of expression");
  CHECK(eval_error("'open") ==
        "in expression ''open' at column 1: unclosed string: add the "
        "closing '");
  CHECK(eval_error("1 < 2 < 3").find("comparisons cannot be chained") != std::string::npos);
  CHECK(eval_error("params.").find("must be followed by a name") != std::string::npos);
  CHECK(eval_error("a b").find("unexpected 'b' after a complete expression") != std::string::npos);
  CHECK(eval_error("").find("the expression is empty") != std::string::npos);
  // Deep nesting is refused before it can exhaust the stack (found by the fuzzer).
  const std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  CHECK(eval_error(deep).find("nests more than 64 levels") != std::string::npos);
  CHECK(eval_error(std::string(100000, '!') + "true").find("nests more than 64") !=
        std::string::npos);
  auto scope = test_scope();
  CHECK(evaluate_expression(std::string(64, '(') + "1" + std::string(64, ')'), scope).is_ok());
}

TEST_CASE("expression_refs lists references without evaluating", "[expression]") {
  auto refs = expression_refs("${{ params.flag }} && steps.a.metrics.count > 2 || env.X == 'y'");
  REQUIRE(refs.is_ok());
  REQUIRE(refs->size() == 3);
  CHECK((*refs)[0] == std::vector<std::string>{"params", "flag"});
  CHECK((*refs)[1] == std::vector<std::string>{"steps", "a", "metrics", "count"});
  CHECK((*refs)[2] == std::vector<std::string>{"env", "X"});
  CHECK_FALSE(expression_refs("a &&").is_ok());
}
