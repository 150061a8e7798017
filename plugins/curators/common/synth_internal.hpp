// Internals of the synthetic generator: a portable RNG, calendar helpers, vocabulary and the
// per-intent conversation builders. Not part of any public interface.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conversation.hpp"

namespace llmops::curators::synth {

// splitmix64: fully specified, so the same seed gives the same stream on every platform
// (std::uniform_int_distribution is implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t s_;
};

// Days since 1970-01-01 <-> civil dates (H. Hinnant's algorithms).
int64_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int& y, unsigned& m, unsigned& d);
std::string iso_date(int64_t days);
int weekday(int64_t days);                        // 0 = Monday
extern const std::vector<std::string> kWeekdays;  // "Monday"...
extern const std::vector<std::string> kMonths;    // "January"...

struct Vocab {
  std::vector<std::string> titles, teammates, labels, priorities, queries, new_titles;
};
const Vocab& vocab();

struct Context {
  Rng& rng;
  int64_t today;  // days since the epoch
  double typo_rate;
  bool new_vocab;  // production-shift phrasing
  int call_seq = 0;
  std::string new_task_id();
  std::string new_call_id() { return "call_" + std::to_string(++call_seq); }
};

// One exchange: a user turn and the assistant turns (with tool calls and tool results) that answer
// it. `intent` receives the intent name.
std::vector<Message> base_exchange(Context& c, std::string& intent);
std::vector<Message> new_intent_exchange(Context& c, std::string& intent);
std::vector<Message> off_topic_exchange(Context& c);
std::string system_prompt(const Context& c, bool production);

// Adds one swapped-letter typo to a word outside quotes; returns false when no word qualifies.
bool add_typo(Rng& rng, std::string& text);
std::string lower_first(std::string s);

}  // namespace llmops::curators::synth
