// A fresh, empty temporary folder (llmops-<tag>-test-<pid>-<n>), removed at scope exit: the one
// TempDir of every suite (the CLI's integration tests have TempHome, a store home around it).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace llmops::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("llmops-" + tag + "-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace llmops::testing
