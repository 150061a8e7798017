// soak_server: llmops-serve under steady load for a while, to see that it neither fails requests
// nor grows.
//   soak_server [--serve PATH/llmops-serve] [--clients 32] [--seconds 60] [--max-tokens 16]
// Starts llmops-serve on the tiny Llama (tests/data/hf) with its default options (only the model,
// its tokenizer, a name and a request-log folder, as a deployment passes them) and drives it with
// keep-alive clients of its own, each sending chat, streamed chat and plain completions in turn
// (prompts with e-mail addresses and phone numbers, so the default redaction runs too). Prints
// total requests, errors, p50/p99/max latency and the server's resident memory after warm-up,
// every 10 s and at the end. Prints figures only; nothing here asserts on them.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "deploy.hpp"
#include "plugins/common/http_client.hpp"

namespace fs = std::filesystem;
using llmops::bench::Clock;
using llmops::bench::cpu_name;
using llmops::bench::percentile;
using llmops::bench::secs;
using nlohmann::json;

namespace {

// Resident memory of a process in KiB (VmRSS), or -1.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// One request of kind `k` (chat, streamed chat, completion); true when answered in full.
bool one_request(llmops::common::HttpClient& c, int k, int n, int max_tokens) {
  static const char* kPrompts[] = {
      "add a task to buy milk", "remind me to mail alice@example.com on friday",
      "call +1 415 555 0100 about the invoice", "what is on my list today?"};
  const std::string prompt = kPrompts[n % 4];
  json body = {{"model", "tiny"},    {"max_tokens", max_tokens},
               {"temperature", 0.7}, {"seed", n},
               {"ignore_eos", true}, {"user", "soak-" + std::to_string(n % 7)}};
  std::string route = "/v1/chat/completions";
  if (k == 2) {
    route = "/v1/completions";
    body["prompt"] = prompt;
  } else {
    body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
    if (k == 1) body["stream"] = true;
  }
  auto r = c.request("POST", route, body.dump());
  if (!r || r->status != 200) return false;
  if (k == 1) {
    const auto events = llmops::common::sse_events(r->body);
    return !events.empty() && events.back() == "[DONE]";
  }
  const auto j = json::parse(r->body, nullptr, false);
  return j.is_object() && j.contains("choices");
}

}  // namespace

int main(int argc, char** argv) {
  fs::path serve;
  int clients = 32, seconds = 60, max_tokens = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--serve") serve = argv[i + 1];
    if (a == "--clients") clients = std::stoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::stoi(argv[i + 1]);
    if (a == "--max-tokens") max_tokens = std::stoi(argv[i + 1]);
  }
  if (serve.empty())
    serve =
        fs::canonical("/proc/self/exe").parent_path().parent_path() / "plugins" / "llmops-serve";
  if (!fs::exists(serve)) {
    std::printf("(no %s: build llmops-serve first)\n", serve.c_str());
    return 0;
  }
  const fs::path src = LLMOPS_SOURCE_DIR;
  const fs::path tmp = fs::temp_directory_path() / ("soak-serve-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  auto pid = llmops::serve::spawn_detached(
      serve,
      {"--model", (src / "tests/data/hf/tiny-llama").string(), "--tokenizer",
       (src / "tests/data/hf/tokenizer-bpe/tokenizer.json").string(), "--name", "tiny", "--log",
       (tmp / "logs").string()},
      tmp / "serve.out");
  if (!pid) {
    std::cerr << pid.status().message() << "\n";
    return 1;
  }
  int port = 0;
  for (int i = 0; i < 1200 && !port && llmops::serve::process_alive(*pid); ++i) {
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
    return 1;
  }
  const auto p = static_cast<uint16_t>(port);
  std::printf(
      "soak_server on %s, %u hardware threads: llmops-serve (default options) on tiny-llama,"
      " %d keep-alive clients, %d s, %d tokens per request\n",
      cpu_name().c_str(), std::thread::hardware_concurrency(), clients, seconds, max_tokens);
  {
    llmops::common::HttpClient warm("127.0.0.1", p);
    for (int i = 0; i < 30; ++i) (void)one_request(warm, i % 3, i, max_tokens);
  }
  const long rss_start = rss_kib(*pid);
  long rss_max = rss_start;
  std::printf("%6s %10s %8s %10s\n", "t s", "requests", "errors", "RSS MiB");
  std::printf("%6d %10d %8d %10.1f\n", 0, 0, 0, rss_start / 1024.0);

  std::atomic<bool> go{true};
  std::atomic<int> done{0}, errors{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(clients));
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      llmops::common::HttpClient client("127.0.0.1", p);
      for (int n = c; go; n += clients) {
        const auto a = Clock::now();
        const bool ok = one_request(client, n % 3, n, max_tokens);
        lat[static_cast<size_t>(c)].push_back(secs(a, Clock::now()) * 1000);
        ++done;
        if (!ok) ++errors;
      }
    });
  for (int t = 10; t <= seconds; t += 10) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(std::min(t, seconds)));
    const long rss = rss_kib(*pid);
    rss_max = std::max(rss_max, rss);
    std::printf("%6d %10d %8d %10.1f\n", std::min(t, seconds), done.load(), errors.load(),
                rss / 1024.0);
    std::fflush(stdout);
  }
  std::this_thread::sleep_until(t0 + std::chrono::seconds(seconds));
  go = false;
  for (auto& t : ts) t.join();
  const double wall = secs(t0, Clock::now());
  const long rss_end = rss_kib(*pid);
  rss_max = std::max(rss_max, rss_end);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  std::string queue;
  if (auto m = llmops::common::http_request("127.0.0.1", p, "GET", "/metrics"); m) {
    for (const char* name : {"llmops_max_concurrency{", "llmops_queue_wait_seconds_count{",
                             "llmops_queue_wait_seconds_sum{"}) {
      const auto at = m->body.find(std::string("\n") + name);
      if (at != std::string::npos)
        queue += "  " + m->body.substr(at + 1, m->body.find('\n', at + 1) - at - 1) + "\n";
    }
  }
  std::printf(
      "\nrequests %d in %.1f s (%.1f req/s), errors %d\n"
      "latency ms: p50 %.2f, p99 %.2f, max %.2f\n"
      "server RSS MiB: after warm-up %.1f, end %.1f (%+.1f%%), highest %.1f\n%s",
      done.load(), wall, done.load() / wall, errors.load(), percentile(all, 0.5),
      percentile(all, 0.99), all.empty() ? 0.0 : all.back(), rss_start / 1024.0, rss_end / 1024.0,
      rss_start > 0
          ? 100.0 * static_cast<double>(rss_end - rss_start) / static_cast<double>(rss_start)
          : 0.0,
      rss_max / 1024.0, queue.c_str());
  ::kill(*pid, SIGTERM);
  for (int i = 0; i < 500 && llmops::serve::process_alive(*pid); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fs::remove_all(tmp);
  return 0;
}
