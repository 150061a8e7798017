// llmops-serve: the OpenAI-compatible model server (`llmops serve ...` runs it).
//   llmops-serve --model DIR [--tokenizer FILE] [--host 127.0.0.1] [--port 0] [--name NAME]
//                [--version V] [--log DIR] [--no-redact-pii] [--max-concurrency N]
//                [--max-queue N] [--queue-timeout S] [--max-tokens N] [--timeout S]
//                [--max-batch N] [--threads N] [--max-connections N] [--max-pending-per-client N]
//                [--header-timeout S] [--body-timeout S] [--idle-timeout S]
// `llmops-serve --help` lists every option with its default.
// Prints one JSON line when it listens ({"event":"listening","port":...}) and one when the model is
// loaded ({"event":"ready",...}), so a parent can read the port; /health answers 503 in between.
// The bearer token comes from the environment variable named by --token-env (never a flag, never
// logged). SIGTERM or SIGINT stop it gracefully. Exit codes: 0 stopped, 1 failed to start or load.
#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "lm/batch.hpp"
#include "lm/chat.hpp"
#include "lm/model.hpp"
#include "lm/tokenizer.hpp"
#include "server.hpp"

using namespace llmops;
using nlohmann::json;

namespace {

// A model version on plugins/lm: the torch-free Model facade and its tokenizer.
class LmBackend : public serve::Backend {
 public:
  LmBackend(lm::Model model, lm::Tokenizer tok, int64_t context, int max_batch)
      : model_(std::move(model)), tok_(std::move(tok)), context_(context) {
    // The generator keeps a reference to model_: this object never moves (see below).
    if (max_batch > 1) batch_ = std::make_unique<lm::BatchGenerator>(model_, max_batch);
    vocab_ = model_.config().vocab_size;
    auto add = [&](std::vector<int64_t>& v, int64_t id) {
      if (id >= 0 && id < vocab_ && std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
    };
    add(completion_stops_, model_.config().eos_token_id);
    if (auto id = tok_.token_to_id("<|endoftext|>")) add(completion_stops_, *id);
    chat_stops_ = completion_stops_;
    if (auto id = tok_.token_to_id("<|im_end|>")) add(chat_stops_, *id);
  }

  std::vector<int64_t> encode(const std::string& text) const override {
    auto ids = tok_.encode(text, /*add_special_tokens=*/false);
    // A tokenizer larger than the model's embedding (test fixtures, a resized vocabulary): ids
    // the model has no row for become id 0 rather than failing the request.
    for (auto& id : ids)
      if (id >= vocab_) id = 0;
    return ids;
  }
  LmBackend(LmBackend&&) = delete;

  std::string decode(const std::vector<int64_t>& ids) const override {
    return tok_.decode(ids, /*skip_special_tokens=*/true);
  }
  std::string render_chat(const std::vector<lm::ChatMessage>& messages) const override {
    return lm::render_chatml(messages, /*add_generation_prompt=*/true);
  }
  std::vector<int64_t> stop_ids(bool chat) const override {
    return chat ? chat_stops_ : completion_stops_;
  }
  int64_t context_length() const override { return context_; }
  Result<std::vector<int64_t>> generate(const std::vector<int64_t>& prompt,
                                        const lm::GenerationOptions& options) const override {
    auto out = batch_ ? batch_->generate(prompt, options) : model_.generate(prompt, options);
    if (!out) return out.status();
    return std::vector<int64_t>(out->begin() + static_cast<std::ptrdiff_t>(prompt.size()),
                                out->end());
  }

  json status() const override {
    if (!batch_) return {{"max_batch", 1}};
    const auto st = batch_->stats();
    return {{"max_batch", batch_->max_batch()}, {"batched_steps", st.steps},
            {"batched_tokens", st.rows},        {"largest_batch", st.max_rows},
            {"requests", st.prefills},          {"running", st.running}};
  }

 private:
  lm::Model model_;
  // Declared after model_, so it is destroyed (its worker joined) before the model.
  std::unique_ptr<lm::BatchGenerator> batch_;
  lm::Tokenizer tok_;
  int64_t context_ = 0, vocab_ = 0;
  std::vector<int64_t> completion_stops_, chat_stops_;
};

// Intra-op threads for libtorch and for the BLAS under it. OpenBLAS takes its thread count from
// the environment when it loads, before main, so it is set through openblas_set_num_threads,
// looked up at run time because libtorch may sit on another BLAS.
void set_compute_threads(int n) {
  lm::set_torch_threads(n);
  if (n <= 0) return;
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(n);
}

void say(const json& j) {
  std::cout << j.dump() << std::endl;  // flushed: a parent waits for these lines
}

}  // namespace

int main(int argc, char** argv) {
  // A detached server must not hold its parent's pipes or database files open.
  ::close_range(3, ~0U, 0);

  CLI::App app{"llmops-serve: an OpenAI-compatible server for an HF Llama-family model"};
  std::string model_dir, tokenizer, version, token_env = "LLMOPS_SERVE_TOKEN", log_dir;
  serve::ServerOptions opt;
  int64_t context = 0;
  int port = 0, max_batch = std::min(opt.max_concurrency, 64), threads = -1;
  app.add_option("--model", model_dir, "HF model folder (config.json + safetensors)")->required();
  app.add_option("--tokenizer", tokenizer, "tokenizer.json (default: the model folder's)");
  app.add_option("--host", opt.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", port, "Port (0: pick a free one and print it)")->capture_default_str();
  app.add_option("--name", opt.name, "Model id clients send as \"model\"")->capture_default_str();
  app.add_option("--version", version, "Version label of this model (default: v1)");
  app.add_option("--token-env", token_env, "Environment variable holding the bearer token")
      ->capture_default_str();
  app.add_option("--log", log_dir, "Folder for the request log (requests.jsonl)");
  app.add_option("--log-max-bytes", opt.log.max_bytes, "Rotate the log above this size")
      ->capture_default_str();
  app.add_option("--log-keep", opt.log.keep, "Rotated logs kept")->capture_default_str();
  app.add_flag("--redact-pii,!--no-redact-pii", opt.log.redact_pii,
               "Replace PII (e-mails, phones, IPs, cards, keys) in every free-text field of the "
               "request log (the default); --no-redact-pii logs prompts verbatim")
      ->capture_default_str();
  app.add_option("--max-concurrency", opt.max_concurrency,
                 "Generations at once (default: 16 per core, 16 to 128); more wait in the queue")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-queue", opt.max_queue,
                 "Generation requests that may wait for a slot; more get 429 with Retry-After "
                 "(0: no queue)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--queue-timeout", opt.queue_timeout_s,
                 "Seconds a request may wait for a slot; 503 with Retry-After after")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* batch_option =
      app.add_option("--max-batch", max_batch,
                     "Requests decoded together per forward pass (1: each on its own; default: "
                     "--max-concurrency, at most 64)")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
  app.add_option("--threads", threads,
                 "Intra-op threads (0: every core; default: 1 with batching, where one thread "
                 "decodes the whole batch, else every core)");
  app.add_option("--max-connections", opt.max_connections,
                 "Open connections at once; at the limit a new one closes the oldest without a "
                 "request (503 only when all have one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-pending-per-client", opt.max_pending_per_client,
                 "Connections one client address may hold without a complete request (new, "
                 "partial or idle); past it its oldest is closed (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--header-timeout", opt.header_timeout_s,
                 "Seconds for a request's whole header (408 and close after)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--body-timeout", opt.body_timeout_s,
                 "Seconds for a request's whole body (408 and close after)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--idle-timeout", opt.idle_timeout_s,
                 "Seconds a kept-alive connection may wait for its next request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-tokens", opt.limits.max_tokens_cap, "Largest max_tokens accepted")
      ->capture_default_str();
  app.add_option("--default-max-tokens", opt.limits.default_max_tokens,
                 "max_tokens when a request names none")
      ->capture_default_str();
  app.add_option("--max-body-bytes", opt.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str();
  app.add_option("--timeout", opt.timeout_s,
                 "Seconds a request may generate, from getting its slot (504 after)")
      ->capture_default_str();
  app.add_option("--context-length", context, "Prompt + completion limit (default: the model's)");
  CLI11_PARSE(app, argc, argv);
  if (batch_option->count() == 0) max_batch = std::min(opt.max_concurrency, 64);
  // With batching one worker thread runs every forward pass on small matrices, where torch's and
  // the BLAS's own threads cost more (spinning, hand-offs) than they give.
  set_compute_threads(threads >= 0 ? threads : (max_batch > 1 ? 1 : 0));
  opt.port = static_cast<uint16_t>(port);
  opt.log.dir = log_dir;
  if (version.empty()) version = "v1";
  if (const char* t = std::getenv(token_env.c_str())) opt.token = t;
  // Every connection holds a descriptor: allow as many as the hard limit lets us.
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  // Signals go to the thread that waits for them, not to a connection thread.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string default_tokenizer = tokenizer;
  serve::BackendLoader loader =
      [default_tokenizer, context,
       max_batch](const serve::LoadRequest& r) -> Result<std::shared_ptr<serve::Backend>> {
    std::filesystem::path tok_path = r.tokenizer;
    if (tok_path.empty()) tok_path = std::filesystem::path(r.model_dir) / "tokenizer.json";
    if (!std::filesystem::exists(tok_path) && r.tokenizer.empty() && !default_tokenizer.empty())
      tok_path = default_tokenizer;
    auto tok = lm::Tokenizer::load(tok_path);
    if (!tok) return tok.status();
    auto model = lm::Model::load(r.model_dir);
    if (!model) return model.status();
    const int64_t ctx = context > 0 ? context : model->config().max_position_embeddings;
    if (tok->vocab_size() > model->config().vocab_size)
      std::cerr << "llmops-serve: warning: the tokenizer has " << tok->vocab_size()
                << " ids but the model only " << model->config().vocab_size
                << "; prompt ids beyond the model's vocabulary become 0\n";
    return std::shared_ptr<serve::Backend>(
        std::make_shared<LmBackend>(std::move(*model), std::move(*tok), ctx, max_batch));
  };

  serve::Server server(opt, loader);
  if (auto s = server.listen(); !s) {
    say({{"event", "error"}, {"message", s.message()}});
    return 1;
  }
  say({{"event", "listening"},
       {"host", opt.host},
       {"port", server.port()},
       {"pid", ::getpid()},
       {"name", opt.name},
       {"auth", !opt.token.empty()}});
  std::thread acceptor([&] { server.run(); });

  if (auto s = server.load({model_dir, version, 0, tokenizer}); !s) {
    say({{"event", "error"}, {"message", s.message()}});
    server.stop();
    acceptor.join();
    return 1;
  }
  say({{"event", "ready"}, {"port", server.port()}, {"version", version}});

  int sig = 0;
  sigwait(&sigs, &sig);
  say({{"event", "stopping"}, {"signal", sig}});
  server.stop();
  acceptor.join();
  return 0;
}
