// Process identity: whether a process recorded by pid (maybe by another engine, maybe long gone)
// is still the same process, which a bare pid cannot say once the kernel reuses it.
#pragma once

#include <cstdint>
#include <string>

namespace llmops::base {

// This machine's host name ("" when unknown).
std::string host_name();
// When a process started, in clock ticks since boot (/proc/PID/stat); 0 when it is not running.
int64_t process_start_ticks(int64_t pid);
// Whether `pid` runs and started at `start_ticks` (any start when start_ticks is 0).
bool process_alive(int64_t pid, int64_t start_ticks);

}  // namespace llmops::base
