// bench_serve: the model server under load and the KV cache's decode speed-up.
//   bench_serve [--serve PATH/llmops-serve] [--requests N] [--max-tokens N] [--max-batch N]
// 1. Starts llmops-serve on the tiny Llama (tests/data/hf) on loopback and drives it with 1, 8 and
//    32 concurrent keep-alive clients of its own: requests/s, p50 and p99 latency. Twice: each
//    request decoded on its own (--max-batch 1), then concurrent requests decoded together
//    (--max-batch N, default 32).
// 2. Decode tokens/s at 256 new tokens with the KV cache (Model::generate) against recomputing
//    the whole prefix for every token (Model::logits over the growing sequence), on the tiny model
//    and on a larger random one. Prints figures only; nothing here asserts on time.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "deploy.hpp"
#include "plugins/common/http_client.hpp"
#ifdef LLMOPS_HAVE_LM
#include "lm/model.hpp"
#endif

namespace fs = std::filesystem;
using llmops::bench::Clock;
using llmops::bench::cpu_name;
using llmops::bench::percentile;
using llmops::bench::secs;
using nlohmann::json;

namespace {

void bench_server(const fs::path& serve, int requests, int max_tokens, int max_batch) {
  const fs::path src = LLMOPS_SOURCE_DIR;
  const fs::path tmp = fs::temp_directory_path() / ("bench-serve-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  auto pid = llmops::serve::spawn_detached(
      serve,
      {"--model", (src / "tests/data/hf/tiny-llama").string(), "--tokenizer",
       (src / "tests/data/hf/tokenizer-bpe/tokenizer.json").string(), "--name", "tiny",
       "--max-concurrency", "64", "--context-length", "4096", "--max-batch",
       std::to_string(max_batch)},
      tmp / "serve.out");
  if (!pid) {
    std::cerr << pid.status().message() << "\n";
    return;
  }
  int port = 0;
  for (int i = 0; i < 1200 && !port; ++i) {
    std::ifstream in(tmp / "serve.out");
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("event", "") == "ready") port = j["port"];
    }
    if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!port) {
    std::cerr << "llmops-serve did not start; see " << (tmp / "serve.out") << "\n";
    ::kill(*pid, SIGKILL);
    return;
  }
  const std::string body = json{
      {"model", "tiny"},
      {"messages", {{{"role", "user"}, {"content", "add a task"}}}},
      {"max_tokens", max_tokens},
      {"temperature", 0},
      {"ignore_eos", true}}.dump();
  std::printf(
      "\nserver: tiny Llama, chat completions of %d tokens, %d requests per row, --max-batch %d\n",
      max_tokens, requests, max_batch);
  std::printf("%-8s %10s %10s %10s %12s %8s\n", "clients", "req/s", "p50 ms", "p99 ms", "tokens/s",
              "errors");
  {
    llmops::common::HttpClient warm("127.0.0.1", static_cast<uint16_t>(port));
    for (int i = 0; i < 10; ++i) (void)warm.request("POST", "/v1/chat/completions", body);
  }
  for (int clients : {1, 8, 32}) {
    std::atomic<int> next{0}, errors{0};
    std::vector<std::vector<double>> lat(static_cast<size_t>(clients));
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int c = 0; c < clients; ++c)
      ts.emplace_back([&, c] {
        llmops::common::HttpClient client("127.0.0.1", static_cast<uint16_t>(port));
        while (next.fetch_add(1) < requests) {
          const auto a = Clock::now();
          auto r = client.request("POST", "/v1/chat/completions", body);
          if (!r || r->status != 200) ++errors;
          lat[static_cast<size_t>(c)].push_back(secs(a, Clock::now()) * 1000);
        }
      });
    for (auto& t : ts) t.join();
    const double wall = secs(t0, Clock::now());
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::printf("%-8d %10.1f %10.2f %10.2f %12.0f %8d\n", clients, requests / wall,
                percentile(all, 0.5), percentile(all, 0.99), requests * max_tokens / wall,
                errors.load());
  }
  ::kill(*pid, SIGTERM);
  for (int i = 0; i < 500 && llmops::serve::process_alive(*pid); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fs::remove_all(tmp);
}

#ifdef LLMOPS_HAVE_LM
void bench_decode(const std::string& label, const llmops::lm::Model& model, int new_tokens) {
  using namespace llmops::lm;
  const std::vector<int64_t> prompt = {1, 17, 42, 99, 7, 3, 250, 11};
  GenerationOptions o;
  o.max_new_tokens = new_tokens;
  auto t0 = Clock::now();
  auto cached = model.generate(prompt, o);
  const double kv = secs(t0, Clock::now());
  if (!cached) {
    std::cerr << cached.status().message() << "\n";
    return;
  }
  // Without a cache: the whole sequence through the model for every new token.
  std::vector<int64_t> seq = prompt;
  t0 = Clock::now();
  for (int i = 0; i < new_tokens; ++i) {
    const auto n = static_cast<int64_t>(seq.size());
    auto logits = model.logits(RawTensor::from_int64({1, n}, seq));
    if (!logits) {
      std::cerr << logits.status().message() << "\n";
      return;
    }
    const auto v = logits->to_float();
    const int64_t vocab = logits->shape[2];
    const float* last = v.data() + (n - 1) * vocab;
    seq.push_back(std::max_element(last, last + vocab) - last);
  }
  const double full = secs(t0, Clock::now());
  const bool same = seq == *cached;
  std::printf("%-34s %12.0f %14.0f %8.1fx %s\n", label.c_str(), new_tokens / kv, new_tokens / full,
              full / kv, same ? "same tokens" : "TOKENS DIFFER");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  fs::path serve;
  int requests = 200, max_tokens = 16, new_tokens = 256, max_batch = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--serve") serve = argv[i + 1];
    if (a == "--requests") requests = std::stoi(argv[i + 1]);
    if (a == "--max-tokens") max_tokens = std::stoi(argv[i + 1]);
    if (a == "--max-batch") max_batch = std::stoi(argv[i + 1]);
  }
  if (serve.empty())
    serve =
        fs::canonical("/proc/self/exe").parent_path().parent_path() / "plugins" / "llmops-serve";
  std::printf("bench_serve on %s, %u hardware threads\n", cpu_name().c_str(),
              std::thread::hardware_concurrency());
  if (fs::exists(serve)) {
    bench_server(serve, requests, max_tokens, 1);
    if (max_batch > 1) bench_server(serve, requests, max_tokens, max_batch);
  } else
    std::printf("(no %s: build llmops-serve for the server figures)\n", serve.c_str());
#ifdef LLMOPS_HAVE_LM
  using namespace llmops::lm;
  std::printf("\ndecode, %d new tokens, greedy, batch 1\n", new_tokens);
  std::printf("%-34s %12s %14s %9s\n", "model", "KV tok/s", "recompute tok/s", "speed-up");
  auto tiny = Model::load(fs::path(LLMOPS_SOURCE_DIR) / "tests/data/hf/tiny-llama");
  if (tiny) bench_decode("tiny-llama (2 x 64, 0.1M params)", *tiny, new_tokens);
  LlamaConfig c;
  c.vocab_size = 4096;
  c.hidden_size = 256;
  c.intermediate_size = 704;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.max_position_embeddings = 1024;
  auto small = Model::init(c, 0);
  if (small)
    bench_decode(
        "random 4 x 256 (" + std::to_string(small->parameter_count() / 1000000) + "M params)",
        *small, new_tokens);
#endif
  return 0;
}
