// The SDK's FakeStepContext (<llmops/testing/fake_step_context.hpp>) against the engine's own
// StepContext: a plugin author's unit test is only worth something if the fake reads parameters
// and hands out folders the way a pipeline run does.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/exec/step_context.hpp"
#include "llmops/testing/fake_step_context.hpp"
#include "tests/common/temp_dir.hpp"

using llmops::testing::FakeStepContext;
namespace fs = std::filesystem;

TEST_CASE("FakeStepContext reads every parameter as the engine does", "[sdk]") {
  const nlohmann::json params = {{"int", 3},
                                 {"negative", -7},
                                 {"float", 0.1},
                                 {"whole", 2.0},
                                 {"tiny", 1e-5},
                                 {"sum", 0.1 + 0.2},
                                 {"yes", true},
                                 {"no", false},
                                 {"s_int", "42"},
                                 {"s_float", "2.5"},
                                 {"s_yes", "yes"},
                                 {"s_zero", "0"},
                                 {"s_word", "abc"},
                                 {"empty", ""},
                                 {"utf8", "h\xc3\xa9llo"},
                                 {"escapes", "a\"b\\c\nd\te\x01"},
                                 {"list", {1, "two", 3.5}},
                                 {"map", {{"k", {true, nullptr}}}},
                                 {"null", nullptr}};
  llmops::testing::TempDir tmp("sdk");
  llmops::engine::StepRequest request;
  request.params = params;
  request.work_dir = tmp.path / "engine";
  llmops::engine::StepContextImpl engine(request);
  FakeStepContext fake(tmp.path / "fake");
  fake.set_params(params);

  CHECK(fake.params_json() == engine.params_json());
  auto names = params;
  names["absent"] = 0;
  for (const auto& item : names.items()) {
    const std::string& n = item.key();
    INFO("parameter " << n);
    CHECK(fake.has_param(n) == engine.has_param(n));
    CHECK(fake.param_string(n, "def") == engine.param_string(n, "def"));
    CHECK(fake.param_int(n, -1) == engine.param_int(n, -1));
    CHECK(fake.param_double(n, -1.5) == engine.param_double(n, -1.5));
    CHECK(fake.param_bool(n, true) == engine.param_bool(n, true));
    CHECK(fake.param_bool(n, false) == engine.param_bool(n, false));
    CHECK(fake.param_json(n) == engine.param_json(n));
  }
}

TEST_CASE("FakeStepContext hands out output folders and records what the plugin did", "[sdk]") {
  llmops::testing::TempDir tmp("sdk");
  fs::path root;
  {
    FakeStepContext ctx;
    root = ctx.root();
    const auto out = ctx.output("model", "model");
    std::ofstream(out / "weights.bin") << "w";
    // A second call is the same folder, not a fresh one.
    CHECK(ctx.output("model", "model") == out);
    CHECK(fs::exists(out / "weights.bin"));
    CHECK(ctx.output_kinds.at("model") == "model");
    ctx.set_output_metadata("model", R"({"rows":3})");
    ctx.metric("loss", 2.0, 1);
    ctx.metric("loss", 1.0, 2);
    ctx.trigger("drift", "PSI 0.4", "{}");
    CHECK(ctx.last_metric("loss") == 1.0);
    CHECK(!ctx.last_metric("accuracy").has_value());
    CHECK(ctx.metric_series("loss") == std::vector<std::pair<int64_t, double>>{{1, 2.0}, {2, 1.0}});
    CHECK(ctx.triggers.at(0).kind == "drift");
    CHECK(fs::is_directory(ctx.scratch_dir()));
  }
  CHECK(!fs::exists(root));  // a context's own temporary folder goes with it

  // On a given root, a retry starts from empty outputs but finds the scratch folder as it was.
  {
    FakeStepContext first(tmp.path / "attempt");
    std::ofstream(first.output("out", "file") / "partial") << "x";
    std::ofstream(first.scratch_dir() / "checkpoint") << "c";
  }
  FakeStepContext retry(tmp.path / "attempt");
  CHECK(fs::is_empty(retry.output("out", "file")));
  CHECK(fs::exists(retry.scratch_dir() / "checkpoint"));
}

TEST_CASE("FakeStepContext cancels now or once progress reaches a mark", "[sdk]") {
  FakeStepContext now;
  CHECK(!now.cancelled());
  now.cancel();
  CHECK(now.cancelled());

  FakeStepContext later;
  later.cancel_at_progress(5);
  later.progress(4, 10, "");
  CHECK(!later.cancelled());
  later.progress(5, 10, "halfway");
  CHECK(later.cancelled());
  CHECK(later.progress_calls.back().note == "halfway");
}
