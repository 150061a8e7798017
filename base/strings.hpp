// Small string helpers shared by the engine and the CLI. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace llmops::base {

// `s` without leading and trailing spaces, tabs, CR and LF.
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);

}  // namespace llmops::base
