// Shared helpers for the lm tests: fixture paths and tensor comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "tests/common/temp_dir.hpp"

inline std::filesystem::path hf_fixture(const std::string& name) {
  return std::filesystem::path(LLMOPS_SOURCE_DIR) / "tests" / "data" / "hf" / name;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

struct TempDir : llmops::testing::TempDir {
  TempDir() : llmops::testing::TempDir("lm") {}
};
