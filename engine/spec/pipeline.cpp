// PipelineSpec helpers: diagnostics formatting, step lookup and duration parsing.
#include "engine/spec/pipeline.hpp"

#include <cctype>
#include <cstdlib>

namespace llmops::engine {

std::string Diagnostic::str() const {
  std::string out = file.empty() ? std::string("<pipeline>") : file;
  if (pos.line > 0) {
    out += ":" + std::to_string(pos.line);
    if (pos.col > 0) out += ":" + std::to_string(pos.col);
  }
  out += warning ? ": warning: " : ": error: ";
  out += message;
  return out;
}

StepIndex& StepIndex::operator=(const StepIndex&) {
  std::lock_guard lock(mu_);
  pos_.clear();
  return *this;
}

const StepSpec* StepIndex::find(const std::vector<StepSpec>& steps, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto hit = [&]() -> const StepSpec* {
    auto it = pos_.find(name);
    if (it == pos_.end() || it->second >= steps.size() || steps[it->second].name != name)
      return nullptr;
    return &steps[it->second];
  };
  if (const StepSpec* s = hit()) return s;
  // Not indexed yet, stale, or a name the pipeline lacks: rebuild (O(steps), as a scan costs).
  pos_.clear();
  for (size_t i = 0; i < steps.size(); ++i) pos_.emplace(steps[i].name, i);
  return hit();
}

std::optional<double> parse_duration(const std::string& text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t end = n;
  while (end > i && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  if (i == end) return std::nullopt;

  double total = 0;
  bool any = false;
  while (i < end) {
    // A number: digits with at most one dot.
    size_t start = i;
    bool dot = false;
    while (i < end && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      if (text[i] == '.') {
        if (dot) return std::nullopt;
        dot = true;
      }
      ++i;
    }
    if (i == start || (i - start == 1 && dot)) return std::nullopt;
    double value = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    // The unit: ms, s, m, h, d; none only for a lone bare number (seconds).
    size_t ustart = i;
    while (i < end && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(ustart, i - ustart);
    double scale;
    if (unit.empty()) {
      if (any || i != end) return std::nullopt;
      scale = 1;
    } else if (unit == "ms") {
      scale = 0.001;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else if (unit == "d") {
      scale = 86400;
    } else {
      return std::nullopt;
    }
    total += value * scale;
    any = true;
  }
  return total;
}

}  // namespace llmops::engine
