#include "cli/common.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

namespace fs = std::filesystem;

namespace llmops::cli {

fs::path home_dir() {
  if (const char* h = std::getenv("LLMOPS_HOME"); h && *h) return h;
  return fs::current_path() / ".llmops";
}

std::unique_ptr<store::Store> open_store() {
  auto s = store::Store::open(home_dir());
  if (!s) {
    std::cerr << "error: cannot open the store at " << home_dir().string() << ": "
              << s.status().message() << "\n";
    return nullptr;
  }
  return std::move(s.value());
}

std::shared_ptr<engine::PluginHost> scan_plugins() {
  // Descriptors are read in a child process (`llmops scan-plugin`) and cached, so listing or
  // validating never runs plugin code in this process.
  engine::ScanOptions opt;
  std::error_code ec;
  opt.scanner = fs::read_symlink("/proc/self/exe", ec);
  if (ec) opt.scanner.clear();
  opt.cache_file = engine::default_descriptor_cache();
  return engine::PluginHost::scan(engine::default_plugin_dirs(), opt);
}

bool use_colour() {
  static const bool on = isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  return on;
}

std::string paint(const std::string& text, const char* ansi) {
  if (!use_colour()) return text;
  return std::string("\033[") + ansi + "m" + text + "\033[0m";
}

std::string state_colour(store::State state) {
  const std::string word = to_string(state);
  switch (state) {
    case store::State::kSucceeded:
      return paint(word, "32");
    case store::State::kCached:
      return paint(word, "36");
    case store::State::kFailed:
      return paint(word, "31");
    case store::State::kRunning:
      return paint(word, "33");
    case store::State::kSkipped:
    case store::State::kCancelled:
      return paint(word, "90");
    case store::State::kPending:
      break;
  }
  return word;
}

std::string format_time(double t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 0) return "-";
  if (s < 1)
    std::snprintf(buf, sizeof buf, "%.0fms", s * 1000);
  else if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  return buf;
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2) << "\n";
}

int fail(const std::string& message, int code) {
  std::cerr << paint("error:", "31;1") << " " << message << "\n";
  return code;
}

}  // namespace llmops::cli
