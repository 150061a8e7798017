// State: where a run, a step of a run or an execution (one attempt of a step) stands.
//
// One enum for all three, because they share their values and move together: finishing an
// execution writes the same state to its step, a step's state is what the run loop's scheduler
// tracks, and a run ends in a state its steps also use. Each holds a subset:
//   run        pending | running | succeeded | failed | cancelled
//   step       every value
//   execution  running | succeeded | failed | cached | cancelled
// The store checks the subset on write. Strings exist only at the edges: the store's TEXT columns
// (the same words as always, so the database format does not depend on this enum) and what the
// CLI prints or emits as JSON. Header-only and free of state: safe from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace llmops::store {

enum class State { kPending, kRunning, kSucceeded, kFailed, kSkipped, kCached, kCancelled };

// The word stored and shown: "pending", "running", ...
constexpr const char* to_string(State s) {
  switch (s) {
    case State::kPending:
      return "pending";
    case State::kRunning:
      return "running";
    case State::kSucceeded:
      return "succeeded";
    case State::kFailed:
      return "failed";
    case State::kSkipped:
      return "skipped";
    case State::kCached:
      return "cached";
    case State::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// The inverse of to_string; nullopt for any other text (no default: the caller says what is wrong).
constexpr std::optional<State> parse_state(std::string_view text) {
  for (State s : {State::kPending, State::kRunning, State::kSucceeded, State::kFailed,
                  State::kSkipped, State::kCached, State::kCancelled})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

// Done: nothing more happens to it (a run, step or execution).
constexpr bool is_terminal(State s) {
  return s != State::kPending && s != State::kRunning;
}
// Done with outputs downstream steps may use.
constexpr bool is_success(State s) {
  return s == State::kSucceeded || s == State::kCached;
}
// The states a run takes (a run is never skipped or cached; its steps are).
constexpr bool is_run_state(State s) {
  return s != State::kSkipped && s != State::kCached;
}

}  // namespace llmops::store
