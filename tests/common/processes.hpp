// Processes of this machine whose command line holds every given part (arguments joined by
// spaces, with a trailing space, so "--rank 1 " matches that argument exactly): for tests that
// check a step left nothing running, or that pick a process to kill.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace llmops::testing {

inline std::vector<pid_t> processes_with(const std::vector<std::string>& parts) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    bool all = !cmd.empty();
    for (const auto& p : parts) all = all && cmd.find(p) != std::string::npos;
    if (all) out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

}  // namespace llmops::testing
