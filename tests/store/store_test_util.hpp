// Helpers of the store suites: files, a store in a fresh folder (tests/common/temp_dir.hpp).
#pragma once

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "store/store.hpp"
#include "tests/common/temp_dir.hpp"

namespace llmops::store::testing {

using TempDir = llmops::testing::TempDir;

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Opens (creating) a store in `home`; throws when it cannot, which fails the test case.
inline std::unique_ptr<Store> open_store(const std::filesystem::path& home) {
  auto s = Store::open(home);
  if (!s) throw std::runtime_error(s.status().message());
  return std::move(s).value();
}

}  // namespace llmops::store::testing
