// A uniquely named temporary folder for store tests, removed on destruction.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "store/store.hpp"

namespace llmops::store::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "store") {
    static std::atomic<int> counter{0};
    auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            ("llmops-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(ticks) +
             "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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
