// libFuzzer target for CronSpec: parsing any bytes, and computing fire times for whatever parses,
// must never crash, hang or overflow. Input layout: 8 bytes of "after" (seconds since the epoch, so
// the search also starts near the ends of the supported range), 1 byte choosing a zone, the rest is
// the expression.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Iinclude \
//     -DUSE_OS_TZDB=1 tests/fuzz/fuzz_cron.cpp engine/triggers/cron.cpp
//     engine/triggers/cron_parse.cpp -ldate-tz
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/triggers/cron.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::array<const char*, 8> kZones = {
      "UTC",          "America/New_York", "Europe/London", "Australia/Lord_Howe",
      "Asia/Kolkata", "Pacific/Apia",     "Asia/Hebron",   "No/Such_Zone"};
  if (size < 9) return 0;
  int64_t after_raw = 0;
  std::memcpy(&after_raw, data, sizeof after_raw);
  const char* zone = kZones[data[8] % kZones.size()];
  const std::string expr(reinterpret_cast<const char*>(data + 9), size - 9);

  size_t offset = 0;
  auto spec = llmops::engine::CronSpec::parse(expr, zone, &offset);
  if (!spec.is_ok()) {
    if (offset != std::string::npos && offset > expr.size()) __builtin_trap();
    return 0;
  }
  const std::chrono::sys_seconds after{std::chrono::seconds{after_raw}};
  auto times = spec->next_n(after, 4);
  auto prev = after;
  for (auto t : times) {
    if (t <= prev) __builtin_trap();  // fire times must strictly increase
    prev = t;
    (void)llmops::engine::format_local_iso(t, zone);
  }
  // A satisfiable expression fires within a few years of any time well inside the range.
  const auto mid = std::chrono::sys_seconds{std::chrono::seconds{1700000000}};
  if (!spec->next_after(mid)) __builtin_trap();
  (void)llmops::engine::parse_iso8601(expr, zone);
  return 0;
}
