#include <atomic>
#include <mutex>
#include <thread>

#include "engine/exec/executor.hpp"
#include "engine/run/step_pool.hpp"

namespace llmops::engine {

namespace {
// True on the threads of a pool once they ran a job: a job can hold the last reference to its
// executor, whose destructor must then not join the very thread it runs on.
thread_local bool t_pool_thread = false;
// Attempts running on any ThreadedExecutor's threads in this process.
std::atomic<int> g_running{0};
}  // namespace

int ThreadedExecutor::attempts_running() {
  return g_running.load();
}

struct ThreadedExecutor::Pool {
  std::mutex mu;
  std::unique_ptr<StepPool> pool;
  int size = 0;
  int abandoned = 0;  // attempts stuck in a plugin that ignored cancellation

  // Joins the pool, or lets it go when a thread of it is stuck (or is this one).
  void drop() {
    if (!pool) return;
    if (abandoned > 0 || t_pool_thread)
      StepPool::release(std::move(pool));
    else
      pool.reset();
    size = 0;
  }
};

ThreadedExecutor::ThreadedExecutor() : pool_(std::make_unique<Pool>()) {}

ThreadedExecutor::~ThreadedExecutor() {
  std::lock_guard lock(pool_->mu);
  pool_->drop();
}

void ThreadedExecutor::prepare(int max_parallel) {
  std::lock_guard lock(pool_->mu);
  const int want = std::max(1, max_parallel);
  if (pool_->pool && pool_->size >= want && pool_->abandoned == 0) return;
  pool_->drop();
  pool_->abandoned = 0;
  pool_->pool = std::make_unique<StepPool>(want);
  pool_->size = want;
}

Result<std::string> ThreadedExecutor::submit(uint64_t token, std::shared_ptr<StepRequest> request,
                                             std::shared_ptr<CompletionSink> sink) {
  // An abandoned attempt may outlive this executor (its thread is left to finish): it keeps the
  // executor alive when one owns it.
  std::shared_ptr<ThreadedExecutor> keep = weak_from_this().lock();
  g_running.fetch_add(1);
  auto job = [this, keep, token, request = std::move(request), sink = std::move(sink)] {
    t_pool_thread = true;
    struct Done {
      ~Done() { g_running.fetch_sub(1); }
    } done;
    Completion c;
    c.token = token;
    c.result = execute(*request);
    c.work_dir = request->work_dir;
    sink->complete(std::move(c));
  };
  std::lock_guard lock(pool_->mu);
  if (!pool_->pool) {
    const int n = int(std::max(1u, std::thread::hardware_concurrency()));
    pool_->pool = std::make_unique<StepPool>(n);
    pool_->size = n;
  }
  // A pool thread may be stuck in an abandoned in-process step: do not queue behind it.
  if (pool_->abandoned > 0)
    std::thread(std::move(job)).detach();
  else
    pool_->pool->post(std::move(job));
  return std::string();
}

void ThreadedExecutor::abandon(uint64_t token) {
  std::lock_guard lock(pool_->mu);
  ++pool_->abandoned;
}

}  // namespace llmops::engine
