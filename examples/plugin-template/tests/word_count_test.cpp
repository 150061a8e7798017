// Unit tests of curator/word-count: the plugin runs against the SDK's FakeStepContext
// (<llmops/testing/fake_step_context.hpp>), in this process, without the engine. The plugin's
// source is compiled into this program, so the test reaches it through the same two symbols the
// engine uses: the descriptor and the factory.
//
// No test framework, to keep the template free of dependencies; use Catch2 or GoogleTest in your
// own project if you like.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <llmops/testing/fake_step_context.hpp>

// Defined by LLMOPS_PLUGIN(...) in src/word_count.cpp.
extern "C" const llmops_plugin_descriptor_t llmops_plugin_descriptor;
extern "C" llmops::Plugin* llmops_plugin_create();

namespace {

using llmops::testing::FakeStepContext;

int g_failures = 0;

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond << std::endl; \
      ++g_failures;                                                                      \
    }                                                                                    \
  } while (0)

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

llmops::Status run_plugin(FakeStepContext& ctx) {
  std::unique_ptr<llmops::Plugin> plugin(llmops_plugin_create());
  if (!plugin) return llmops::Status::internal("factory returned null");
  return plugin->run(ctx);
}

void test_descriptor() {
  const auto& d = llmops_plugin_descriptor;
  CHECK(d.abi_major == LLMOPS_ABI_MAJOR);
  CHECK(d.abi_minor == LLMOPS_ABI_MINOR);
  CHECK(std::string(d.kind) == "curator");
  CHECK(std::string(d.name) == "word-count");
  CHECK(std::string(d.executor) == "inprocess");
  CHECK(d.cacheable == llmops::kCacheable);  // counting the same text gives the same counts
  CHECK(std::string(d.params_schema).find("\"top\"") != std::string::npos);
}

void test_counts_a_file() {
  FakeStepContext ctx;
  write_file(ctx.root() / "in.txt", "The cat saw the dog.\nThe dog ran.\n");
  ctx.add_input("text", ctx.root() / "in.txt");
  ctx.set_param("top", 2);
  const auto st = run_plugin(ctx);
  CHECK(st.is_ok());
  if (!st) std::cerr << "  status: " << st.message() << "\n";

  CHECK(ctx.output_kinds["counts"] == "report");
  const auto json = read_file(ctx.outputs["counts"] / "counts.json");
  CHECK(json.find("\"words\":8") != std::string::npos);
  CHECK(json.find("\"unique_words\":5") != std::string::npos);
  CHECK(json.find("\"lines\":2") != std::string::npos);
  // "the" x3 first, then "dog" x2; `top: 2` lists no more.
  CHECK(json.find("\"top\":[{\"word\":\"the\",\"count\":3},{\"word\":\"dog\",\"count\":2}]") !=
        std::string::npos);
  CHECK(ctx.last_metric("words") == 8.0);
  CHECK(ctx.last_metric("unique_words") == 5.0);
  CHECK(!ctx.progress_calls.empty() && ctx.progress_calls.back().done == 1.0);
  CHECK(!ctx.logs.empty());
}

void test_case_and_min_length() {
  FakeStepContext ctx;
  write_file(ctx.root() / "in.txt", "A a Bb bb bb");
  ctx.add_input("text", ctx.root() / "in.txt");
  ctx.set_param("lowercase", false);
  ctx.set_param("min_length", 2);
  CHECK(run_plugin(ctx).is_ok());
  CHECK(ctx.last_metric("words") == 3.0);         // "A" and "a" are too short
  CHECK(ctx.last_metric("unique_words") == 2.0);  // "Bb" and "bb" differ
}

void test_counts_a_folder() {
  FakeStepContext ctx;
  write_file(ctx.root() / "data" / "a.txt", "one two\n");
  write_file(ctx.root() / "data" / "sub" / "b.txt", "two three\n");
  ctx.add_input("text", ctx.root() / "data", "directory");
  CHECK(run_plugin(ctx).is_ok());
  CHECK(ctx.last_metric("words") == 4.0);
  CHECK(ctx.progress_calls.size() == 2);
}

void test_errors_are_statuses() {
  {
    FakeStepContext ctx;  // no input at all
    const auto st = run_plugin(ctx);
    CHECK(st.code() == llmops::StatusCode::kInvalidArgument);
    CHECK(ctx.outputs.empty());
  }
  {
    FakeStepContext ctx;
    ctx.add_input("text", ctx.root() / "does-not-exist.txt");
    CHECK(run_plugin(ctx).code() == llmops::StatusCode::kInvalidArgument);
  }
}

void test_stops_when_cancelled() {
  FakeStepContext ctx;
  write_file(ctx.root() / "in.txt", "words\n");
  ctx.add_input("text", ctx.root() / "in.txt");
  ctx.cancel();
  CHECK(run_plugin(ctx).code() == llmops::StatusCode::kCancelled);
  CHECK(ctx.outputs.empty());
}

}  // namespace

int main() {
  test_descriptor();
  test_counts_a_file();
  test_case_and_min_length();
  test_counts_a_folder();
  test_errors_are_statuses();
  test_stops_when_cancelled();
  if (g_failures) {
    std::cerr << g_failures << " check(s) failed\n";
    return 1;
  }
  std::cout << "word-count: all tests passed\n";
  return 0;
}
