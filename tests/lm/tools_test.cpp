// The llmops-model and llmops-tokenizer executables, when built (they sit in the plugin folder).
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

#include "lm_test_util.hpp"

namespace {
struct Run {
  int rc;
  std::string out;
};
Run run(const std::string& cmd) {
  Run r{-1, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
std::string tool(const std::string& name) {
  return (std::filesystem::path(LLMOPS_PLUGIN_BUILD_DIR) / name).string();
}
}  // namespace

TEST_CASE("llmops-model check passes on the fixtures and fails beyond tolerance", "[lm][tools]") {
  if (!std::filesystem::exists(tool("llmops-model"))) {
    WARN("llmops-model not built; skipping");
    return;
  }
  const auto m = hf_fixture("tiny-llama").string();
  auto ok =
      run(tool("llmops-model") + " check " + m + " --expected " + m + "/expected.safetensors");
  INFO(ok.out);
  CHECK(ok.rc == 0);
  CHECK_THAT(ok.out, Catch::Contains("logits: ok") && Catch::Contains("greedy: ok"));
  const auto lora = hf_fixture("tiny-llama-lora").string();
  auto bad =
      run(tool("llmops-model") + " check " + m + " --expected " + lora + "/expected.safetensors");
  CHECK(bad.rc == 1);
  auto merged = run(tool("llmops-model") + " check " + m + " --adapter " + lora + " --merge" +
                    " --expected " + lora + "/expected.safetensors --json");
  CHECK(merged.rc == 0);
  auto info = run(tool("llmops-model") + " info " + m + " --json");
  CHECK(info.rc == 0);
  CHECK_THAT(info.out, Catch::Contains("\"parameters\": 133440"));
  auto gen = run(tool("llmops-model") + " generate " + m + " --ids 1,2,3 -n 4");
  CHECK(gen.rc == 0);
  auto missing = run(tool("llmops-model") + " info /nonexistent");
  CHECK(missing.rc == 2);
  CHECK_THAT(missing.out, Catch::Contains("error"));
}

TEST_CASE("llmops-tokenizer encodes and decodes", "[lm][tools]") {
  if (!std::filesystem::exists(tool("llmops-tokenizer"))) {
    WARN("llmops-tokenizer not built; skipping");
    return;
  }
  const auto t = (hf_fixture("tokenizer-bpe") / "tokenizer.json").string();
  auto enc = run(tool("llmops-tokenizer") + " encode --tokenizer " + t + " 'Hello, world!'");
  CHECK(enc.rc == 0);
  CHECK(enc.out == "[42,353,78,81,14,223,89,264,78,70,3]\n");
  auto dec = run("echo '[42,353,78,81,14,223,89,264,78,70,3]' | " + tool("llmops-tokenizer") +
                 " decode --tokenizer " + t);
  CHECK(dec.rc == 0);
  CHECK(dec.out == "Hello, world!\n");
}
