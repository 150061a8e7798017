#include "engine/run/run_lease.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "base/process.hpp"
#include "base/time.hpp"

namespace llmops::engine {

bool owner_alive(const store::RunOwner& owner, const LeaseOptions& options, double now) {
  if (!owner.host.empty() && owner.host == base::host_name())
    return base::process_alive(owner.pid, owner.pid_start);
  return now - owner.heartbeat_at < options.stale_s;
}

std::string describe_owner(const store::RunOwner& owner, double now) {
  char ago[32];
  std::snprintf(ago, sizeof ago, "%.1f", std::max(0.0, now - owner.heartbeat_at));
  return "pid " + std::to_string(owner.pid) + " on host " +
         (owner.host.empty() ? std::string("?") : owner.host) + " (heartbeat " + ago + " s ago)";
}

std::string owner_refusal(int64_t run_id, const store::RunOwner& owner, double now) {
  const std::string id = std::to_string(run_id);
  return "run " + id + " is being executed by " + describe_owner(owner, now) +
         ": wait for it to finish, or stop it with `llmops cancel " + id + "`";
}

store::RunOwner this_process_owner() {
  store::RunOwner me;
  me.pid = ::getpid();
  me.pid_start = base::process_start_ticks(me.pid);
  me.host = base::host_name();
  std::random_device rd;
  char token[40];
  std::snprintf(token, sizeof token, "%lld-%08x%08x", static_cast<long long>(me.pid), rd(), rd());
  me.token = token;
  return me;
}

Result<std::unique_ptr<RunLease>> RunLease::acquire(store::Store& store, int64_t run_id,
                                                    std::shared_ptr<std::atomic<bool>> interrupt,
                                                    LeaseOptions options) {
  const store::RunOwner me = this_process_owner();
  auto refused = store.claim_run(run_id, me, [&](const store::RunOwner& o) {
    return owner_alive(o, options, base::unix_now());
  });
  if (!refused) return refused.status();
  if (refused.value())
    return Status::precondition(owner_refusal(run_id, *refused.value(), base::unix_now()));
  return std::unique_ptr<RunLease>(
      new RunLease(store, run_id, me.token, std::move(interrupt), options));
}

RunLease::RunLease(store::Store& store, int64_t run_id, std::string token,
                   std::shared_ptr<std::atomic<bool>> interrupt, LeaseOptions options)
    : store_(store),
      run_id_(run_id),
      token_(std::move(token)),
      interrupt_(std::move(interrupt)),
      options_(options) {
  thread_ = std::thread([this] { beat(); });
}

void RunLease::stop_beating() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status RunLease::release() {
  stop_beating();
  return store_.release_run(run_id_, token_);
}

RunLease::~RunLease() {
  stop_beating();
}

void RunLease::beat() {
  const auto period = std::chrono::duration<double>(options_.heartbeat_s);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period, [&] { return stop_; })) {
    lock.unlock();
    auto r = store_.heartbeat_run(run_id_, token_);
    if (!r && r.status().code() == StatusCode::kNotFound) lost_ = true;
    if (r && r.value()) cancel_requested_ = true;
    if ((lost_ || cancel_requested_) && interrupt_) interrupt_->store(true);
    lock.lock();
  }
}

}  // namespace llmops::engine
