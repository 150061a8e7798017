// Shared helpers for the lm tests: fixture paths and tensor comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

inline std::filesystem::path hf_fixture(const std::string& name) {
  return std::filesystem::path(LLMOPS_SOURCE_DIR) / "tests" / "data" / "hf" / name;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

// A fresh, empty temporary folder removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("llmops-lm-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};
