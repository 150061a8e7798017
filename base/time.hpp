// Time: the one `now` of the project, in seconds as a double.
//
// steady_now() for durations and deadlines (never jumps), unix_now() for timestamps written to
// the store and shown to people. Code that makes decisions on time takes a clock interface
// instead (engine/run/clock.hpp, engine/triggers/cron_scheduler.hpp) so tests can fake it.
#pragma once

namespace llmops::base {

double steady_now();
double unix_now();

}  // namespace llmops::base
