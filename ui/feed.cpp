// The live feed: see feed.hpp.
#include "ui/feed.hpp"

#include <nlohmann/json.hpp>
#include <random>

#include "base/time.hpp"
#include "ui/views.hpp"

namespace llmops::ui {

namespace {

std::string random_epoch() {
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s += kHex[rd() % 16];
  return s;
}

}  // namespace

Feed::Feed(Opener open, std::chrono::milliseconds interval, size_t ring)
    : open_(std::move(open)), interval_(interval), ring_size_(ring), epoch_(random_epoch()) {}

Feed::~Feed() {
  stop();
}

void Feed::start() {
  thread_ = std::thread([this] { loop(); });
}

void Feed::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Feed::cursor() {
  if (!primed_) poll_once();
  std::lock_guard lock(mu_);
  return id_of(seq_);
}

std::optional<int64_t> Feed::parse_id(const std::string& id) {
  const size_t dash = id.rfind('-');
  if (dash == std::string::npos || id.substr(0, dash) != epoch_) return std::nullopt;
  int64_t seq = 0;
  try {
    size_t used = 0;
    seq = std::stoll(id.substr(dash + 1), &used);
    if (used != id.size() - dash - 1) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  if (seq < 0 || seq > seq_) return std::nullopt;
  if (!ring_.empty() && seq < ring_.front().seq - 1) return std::nullopt;  // dropped since
  return seq;
}

std::string Feed::fatal() {
  std::lock_guard lock(mu_);
  return fatal_;
}

void Feed::push(int64_t run, const std::string& name, std::string data) {
  {
    std::lock_guard lock(mu_);
    ring_.push_back({++seq_, run, name, std::move(data)});
    while (ring_.size() > ring_size_) ring_.pop_front();
  }
  cv_.notify_all();
}

std::vector<FeedEvent> Feed::wait_after(int64_t after, int64_t run, std::chrono::milliseconds wait,
                                        int64_t& scanned) {
  std::unique_lock lock(mu_);
  auto collect = [&] {
    std::vector<FeedEvent> out;
    scanned = std::max(after, seq_);
    if (seq_ <= after) return out;
    // The ring moved past `after` (a slow reader): say so, the caller resyncs.
    if (!ring_.empty() && after < ring_.front().seq - 1) {
      out.push_back({seq_, 0, "resync", "{}"});
      return out;
    }
    // The ring is in seq order: start at the first one after `after`.
    auto it = ring_.begin();
    if (!ring_.empty() && after >= ring_.front().seq) it += after - ring_.front().seq + 1;
    for (; it != ring_.end(); ++it) {
      if (it->name == "fatal" || (it->name == "run" && (run == 0 || it->run == run)) ||
          (it->name == "step" && run != 0 && it->run == run))
        out.push_back(*it);
    }
    return out;
  };
  auto out = collect();
  if (!out.empty() || wait.count() <= 0) return out;
  const int64_t seen = seq_;
  cv_.wait_for(lock, wait, [&] { return stopping_ || seq_ != seen; });
  return collect();
}

void Feed::loop() {
  for (;;) {
    poll_once();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, interval_, [&] { return stopping_; })) return;
  }
}

void Feed::poll_once() {
  std::lock_guard lock(poll_mu_);
  poll_locked();
}

void Feed::poll_locked() {
  if (!reader_) {
    auto r = open_();
    if (!r) {
      const std::string msg = r.status().message();
      if (msg.rfind("schema_too_new", 0) == 0 || msg.rfind("schema_too_old", 0) == 0) {
        std::lock_guard lock(mu_);
        if (fatal_ == msg) return;
        fatal_ = msg;
      } else {
        return;
      }
      nlohmann::json e = {
          {"error",
           {{"code", msg.substr(0, msg.find(':'))}, {"message", msg.substr(msg.find(':') + 2)}}}};
      push(0, "fatal", views::dump(e));
      return;
    }
    reader_ = std::move(r.value());
    last_version_.reset();
    std::lock_guard lock(mu_);
    fatal_.clear();
  }
  auto version = reader_->data_version();
  if (!version) {
    reader_.reset();
    return;
  }
  if (last_version_ && *last_version_ == version.value()) return;
  last_version_ = version.value();
  if (auto v = reader_->schema_version(); !v || v.value() != store::schema_version_supported()) {
    reader_.reset();  // reopening says why (too new, too old) as a fatal event
    return;
  }
  std::vector<int64_t> tracked;
  for (const auto& [id, state] : run_state_) tracked.push_back(id);
  // The first poll learns where things stand (the newest run, the active ones) and says nothing.
  const bool first = max_run_ < 0;
  if (first) {
    auto newest = reader_->list_runs(1);
    if (!newest) {
      reader_.reset();
      return;
    }
    max_run_ = newest.value().empty() ? 0 : newest.value().front().id;
    max_ended_ = base::unix_now();
  }
  auto runs = reader_->runs_changed(max_run_, tracked, max_ended_);
  if (!runs) {
    reader_.reset();
    return;
  }
  for (const auto& r : runs.value()) {
    const std::string state = store::to_string(r.state);
    const bool active = r.state == store::State::kPending || r.state == store::State::kRunning;
    const auto prev = run_state_.find(r.id);
    const bool is_new = r.id > max_run_;
    const bool known = prev != run_state_.end();
    // A run neither new nor tracked is here because it is active again (resumed).
    if (!first && (is_new || !known || prev->second != state)) {
      nlohmann::json j = {{"id", r.id},
                          {"pipeline", r.pipeline},
                          {"state", state},
                          {"trigger", r.trigger},
                          {"parent_run", r.parent_run ? nlohmann::json(*r.parent_run) : nullptr},
                          {"cycle", r.cycle},
                          {"error", r.error},
                          {"created_at", views::time_or_null(r.created_at)},
                          {"started_at", views::time_or_null(r.started_at)},
                          {"ended_at", views::time_or_null(r.ended_at)}};
      push(r.id, "run", views::dump(j));
    }
    {  // every run here changed, or may have: compare its steps
      auto steps = reader_->list_steps(r.id);
      if (steps) {
        auto& seen = steps_[r.id];
        const auto& rows = steps.value();
        if (seen.size() != rows.size()) seen.clear();  // not seen yet (or not the same steps)
        const bool fresh = seen.empty();
        if (fresh) seen.resize(rows.size());
        for (size_t i = 0; i < rows.size(); ++i) {
          const auto& s = rows[i];
          StepSeen& was = seen[i];
          const char* state = store::to_string(s.state);
          const bool changed =
              fresh || was.name != s.step
                  ? (!first && (known || s.state != store::State::kPending))
                  : (was.state != state || was.attempts != s.attempts || was.reason != s.reason);
          if (changed) {
            nlohmann::json j = {{"run", r.id},
                                {"name", s.step},
                                {"state", state},
                                {"attempts", s.attempts},
                                {"started_at", views::time_or_null(s.started_at)},
                                {"ended_at", views::time_or_null(s.ended_at)},
                                {"reason", s.reason}};
            push(r.id, "step", views::dump(j));
          }
          was = {s.step, state, s.reason, s.attempts, s.started_at, s.ended_at};
        }
      }
    }
    if (active) {
      run_state_[r.id] = state;
    } else {
      run_state_.erase(r.id);
      steps_.erase(r.id);
    }
    max_run_ = std::max(max_run_, r.id);
    max_ended_ = std::max(max_ended_, r.ended_at);
  }
  primed_ = true;
}

}  // namespace llmops::ui
