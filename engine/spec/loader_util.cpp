// YAML helpers and typed getters of the pipeline loader (see engine/spec/loader_impl.hpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "engine/spec/loader_impl.hpp"

namespace llmops::engine {

using nlohmann::json;

namespace detail {

SourcePos pos_of(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

json resolve_scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  const std::string& tag = node.Tag();
  if (node.IsNull()) return nullptr;
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return s;  // quoted or block scalar
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) {
    try {
      return std::stoll(s);
    } catch (...) {
      return std::stod(s);
    }
  }
  if (std::regex_match(s, kFloat)) return std::stod(s);
  if (s == ".inf" || s == "+.inf" || s == ".Inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
  return s;
}

json yaml_to_json(const YAML::Node& node, const std::string& pointer,
                  std::map<std::string, SourcePos>* value_pos,
                  std::map<std::string, SourcePos>* key_pos) {
  if (value_pos) (*value_pos)[pointer] = pos_of(node);
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return resolve_scalar(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        out.push_back(yaml_to_json(node[i], pointer + "/" + std::to_string(i), value_pos, key_pos));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
        if (out.contains(key)) continue;  // duplicates are reported by the walker
        // JSON pointer escaping: ~ -> ~0, / -> ~1.
        std::string escaped;
        for (char c : key) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
        std::string child = pointer + "/" + escaped;
        if (key_pos) (*key_pos)[child] = pos_of(it->first);
        out[key] = yaml_to_json(it->second, child, value_pos, key_pos);
        if (value_pos && it->second.IsNull()) (*value_pos)[child] = pos_of(it->first);
      }
      return out;
    }
    default:
      return nullptr;
  }
}

namespace {

// Thrown by LimitCounter to stop the parser at the first limit crossed.
struct LimitReached {
  LimitError error;
};

// Counts the parser's events; see check_yaml_limits.
class LimitCounter : public YAML::EventHandler {
 public:
  explicit LimitCounter(const LoadLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(mark, anchor);
  }
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const uint64_t size = anchor < sizes_.size() ? sizes_[anchor] : 0;
    const std::string name = "'*" + (anchor < names_.size() ? names_[anchor] : std::string()) + "'";
    if (size == 0) {
      stop(mark, "alias " + name +
                     " is inside the node it names, which would make it endless; an alias can "
                     "only repeat a node that ends before it");
    }
    add(size);
    if (total_ > limits_.max_nodes) {
      stop(mark, "alias " + name + " repeats " + std::to_string(size) +
                     " nodes, which takes the file past the limit of " +
                     std::to_string(limits_.max_nodes) +
                     " YAML nodes counted with aliases expanded (an alias bomb?): write the value "
                     "out, or use fewer aliases");
    }
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YAML::anchor_t anchor;
    uint64_t size;  // nodes in it so far, itself included, aliases expanded
  };

  [[noreturn]] void stop(const YAML::Mark& mark, std::string message) {
    SourcePos pos;
    if (mark.line >= 0 && mark.column >= 0) pos = {mark.line + 1, mark.column + 1};
    throw LimitReached{{pos, std::move(message)}};
  }
  // Records the anchor's name (announced by OnAnchor just before its node); its size stays 0 while
  // the node is open.
  void name_anchor(YAML::anchor_t anchor) {
    if (anchor == YAML::NullAnchor) return;
    if (sizes_.size() <= anchor) {
      sizes_.resize(anchor + 1, 0);
      names_.resize(anchor + 1);
    }
    names_[anchor] = pending_name_;
    sizes_[anchor] = 0;
  }
  void add(uint64_t n) {
    total_ += n;
    if (!stack_.empty()) stack_.back().size += n;
  }
  void count_one(const YAML::Mark& mark) {
    add(1);
    if (total_ > limits_.max_nodes) {
      stop(mark, "the file has more than " + std::to_string(limits_.max_nodes) +
                     " YAML nodes (the limit for a pipeline of at most " +
                     describe_bytes(limits_.max_bytes) +
                     "): split the pipeline, or raise LLMOPS_MAX_PIPELINE_BYTES");
    }
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    name_anchor(anchor);
    count_one(mark);
    if (anchor != YAML::NullAnchor) sizes_[anchor] = 1;
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    name_anchor(anchor);
    count_one(mark);
    if (stack_.size() >= static_cast<size_t>(limits_.max_depth)) {
      stop(mark, "mappings and lists are nested more than " + std::to_string(limits_.max_depth) +
                     " deep here (the limit): flatten this value");
    }
    stack_.push_back({anchor, 1});
  }
  void close() {
    if (stack_.empty()) return;
    const Frame f = stack_.back();
    stack_.pop_back();
    if (f.anchor != YAML::NullAnchor && f.anchor < sizes_.size()) sizes_[f.anchor] = f.size;
    if (!stack_.empty()) stack_.back().size += f.size;
  }

  const LoadLimits& limits_;
  std::vector<Frame> stack_;
  std::vector<uint64_t> sizes_;  // by anchor id: nodes it stands for (0 while open or unknown)
  std::vector<std::string> names_;
  std::string pending_name_;
  uint64_t total_ = 0;
};

}  // namespace

std::optional<LimitError> check_yaml_limits(const std::string& text, const LoadLimits& limits) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  LimitCounter counter(limits);
  try {
    parser.HandleNextDocument(counter);
  } catch (const LimitReached& stop) {
    return stop.error;
  }
  return std::nullopt;
}

std::string describe_bytes(size_t bytes) {
  const std::string exact = std::to_string(bytes) + " bytes";
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB (" + exact + ")";
  if (bytes >= 1024 && bytes % 1024 == 0)
    return std::to_string(bytes >> 10) + " KiB (" + exact + ")";
  return exact;
}

std::string yaml_type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "'" + node.Scalar() + "'";
  }
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

bool matches_name(const std::string& s, bool allow_upper, bool allow_leading_underscore) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = std::isdigit(c) || std::islower(c) || (allow_upper && std::isupper(c)) ||
              (i > 0 && (c == '-' || c == '_')) || (i == 0 && c == '_' && allow_leading_underscore);
    if (!ok) return false;
  }
  return true;
}

void Loader::error(SourcePos pos, std::string message) {
  diags_.push_back({file_, pos, std::move(message), false});
}

std::vector<Entry> Loader::entries(const YAML::Node& node, SourcePos where, const std::string& what,
                                   const std::vector<std::string>& allowed) {
  std::vector<Entry> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) {
    error(pos_of(node).line ? pos_of(node) : where,
          what + " must be a mapping (key: value lines), got " + yaml_type_name(node));
    return out;
  }
  std::map<std::string, SourcePos> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    Entry e{"", it->first, it->second, pos_of(it->first), {}};
    e.value_pos = it->second.IsNull() ? e.key_pos : pos_of(it->second);
    if (!it->first.IsScalar()) {
      error(e.key_pos,
            "keys in " + what + " must be plain names, got " + yaml_type_name(it->first));
      continue;
    }
    e.key = it->first.Scalar();
    if (auto prev = seen.find(e.key); prev != seen.end()) {
      error(e.key_pos, "duplicate key '" + e.key + "' in " + what + " (first defined at line " +
                           std::to_string(prev->second.line) + "); remove one of them");
      continue;
    }
    seen[e.key] = e.key_pos;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), e.key) == allowed.end()) {
      std::string hint = did_you_mean(e.key, allowed);
      if (hint.empty()) hint = "; expected one of: " + join(allowed);
      error(e.key_pos, "unknown key '" + e.key + "' in " + what + hint);
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::string> Loader::get_string(const Entry& e, const std::string& what) {
  if (!e.value.IsScalar() || e.value.IsNull()) {
    error(e.value_pos,
          "'" + e.key + "' in " + what + " must be a string, got " + yaml_type_name(e.value));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<bool> Loader::get_bool(const Entry& e, const std::string& what) {
  json v = e.value.IsScalar() ? resolve_scalar(e.value) : json();
  if (!v.is_boolean()) {
    error(e.value_pos,
          "'" + e.key + "' in " + what + " must be true or false, got " + yaml_type_name(e.value));
    return std::nullopt;
  }
  return v.get<bool>();
}

std::optional<double> Loader::get_number(const Entry& e, const std::string& what) {
  json v = e.value.IsScalar() ? resolve_scalar(e.value) : json();
  if (!v.is_number()) {
    error(e.value_pos,
          "'" + e.key + "' in " + what + " must be a number, got " + yaml_type_name(e.value));
    return std::nullopt;
  }
  return v.get<double>();
}

std::optional<int64_t> Loader::get_int(const Entry& e, const std::string& what) {
  json v = e.value.IsScalar() ? resolve_scalar(e.value) : json();
  if (!v.is_number_integer()) {
    error(e.value_pos,
          "'" + e.key + "' in " + what + " must be a whole number, got " + yaml_type_name(e.value));
    return std::nullopt;
  }
  return v.get<int64_t>();
}

std::optional<double> Loader::get_duration(const Entry& e, const std::string& what) {
  std::optional<double> d;
  if (e.value.IsScalar() && !e.value.IsNull()) d = parse_duration(e.value.Scalar());
  if (!d || *d <= 0) {
    error(e.value_pos, "invalid duration " + yaml_type_name(e.value) + " for '" + e.key + "' in " +
                           what +
                           ": write a positive duration such as 500ms, 30s, 1.5m, 2h, 1h30m or 1d");
    return std::nullopt;
  }
  return d;
}

std::optional<RetryPolicy> Loader::get_retries(const Entry& e, const std::string& what,
                                               RetryPolicy base) {
  const std::string where = "'retries' of " + what;
  if (e.value.IsScalar()) {
    json v = resolve_scalar(e.value);
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      error(e.value_pos, "invalid " + where + ": " + yaml_type_name(e.value) +
                             "; write a whole number of extra attempts (e.g. 3) or a mapping "
                             "{max, initial, factor, max_delay, jitter}");
      return std::nullopt;
    }
    base.max = static_cast<int>(v.get<int64_t>());
    return base;
  }
  bool ok = true;
  auto items =
      entries(e.value, e.value_pos, where, {"max", "initial", "factor", "max_delay", "jitter"});
  for (const auto& item : items) {
    if (item.key == "max") {
      auto v = get_int(item, where);
      if (v && *v < 0) {
        error(item.value_pos,
              "'max' in " + where + " must be 0 or more, got " + std::to_string(*v));
        v.reset();
      }
      if (v) base.max = static_cast<int>(*v);
      ok = ok && v;
    } else if (item.key == "initial" || item.key == "max_delay") {
      auto v = get_duration(item, where);
      if (v) (item.key == "initial" ? base.initial_s : base.max_s) = *v;
      ok = ok && v;
    } else if (item.key == "factor") {
      auto v = get_number(item, where);
      if (v && *v < 1) {
        error(item.value_pos, "'factor' in " + where + " must be 1 or more (1 = constant delay)");
        v.reset();
      }
      if (v) base.factor = *v;
      ok = ok && v;
    } else if (item.key == "jitter") {
      auto v = get_bool(item, where);
      if (v) base.jitter = *v;
      ok = ok && v;
    }
  }
  if (!ok) return std::nullopt;
  return base;
}

std::optional<std::string> Loader::get_executor(const Entry& e, const std::string& what) {
  auto v = get_string(e, what);
  if (!v) return std::nullopt;
  static const std::vector<std::string> kExecutors = {"inprocess", "subprocess", "slurm"};
  std::string name = *v;
  static const std::regex kParam(R"(^\$\{\{\s*params\.([A-Za-z0-9_-]+)\s*\}\}$)");
  std::smatch m;
  if (std::regex_match(*v, m, kParam)) {
    auto p = spec_.param_values.find(m[1].str());
    if (p == spec_.param_values.end()) {
      // A required parameter with no value: `validate` without -p; `run` has refused already.
      if (require_params_)
        error(e.value_pos, "'executor' in " + what + " names parameter '" + m[1].str() +
                               "', which is not declared under 'params'");
      return std::string();
    }
    if (!p->is_string()) {
      error(e.value_pos, "'executor' in " + what + " takes parameter '" + m[1].str() +
                             "', which must be a string (inprocess, subprocess or slurm)");
      return std::nullopt;
    }
    name = p->get<std::string>();
  }
  if (std::find(kExecutors.begin(), kExecutors.end(), name) == kExecutors.end()) {
    error(e.value_pos, "unknown executor '" + name + "' in " + what +
                           did_you_mean(name, kExecutors) +
                           " (expected inprocess, subprocess or slurm)");
    return std::nullopt;
  }
  return name;
}

}  // namespace detail

void sort_diagnostics(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
                     return a.pos.col < b.pos.col;
                   });
}

std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates) {
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string w = lower(word);
  std::optional<std::string> best;
  size_t best_d = std::string::npos;
  for (const auto& cand : candidates) {
    // Optimal string alignment distance: Levenshtein plus adjacent transpositions.
    const std::string c = lower(cand);
    std::vector<std::vector<size_t>> d(w.size() + 1, std::vector<size_t>(c.size() + 1));
    for (size_t i = 0; i <= w.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= w.size(); ++i) {
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t cost = w[i - 1] == c[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && w[i - 1] == c[j - 2] && w[i - 2] == c[j - 1])
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
    size_t dist = d[w.size()][c.size()];
    if (dist < best_d) {
      best_d = dist;
      best = cand;
    }
  }
  const size_t limit = std::max<size_t>(1, std::min<size_t>(3, (word.size() + 1) / 3));
  if (best && best_d <= limit && *best != word) return best;
  // A shortened or lengthened name ("prep" for "prepare") is a likely slip too.
  if (w.size() >= 3) {
    for (const auto& cand : candidates) {
      const std::string c = lower(cand);
      if (c.size() >= 3 && c != w && (c.rfind(w, 0) == 0 || w.rfind(c, 0) == 0)) return cand;
    }
  }
  return std::nullopt;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto m = closest_match(word, candidates);
  return m ? "; did you mean '" + *m + "'?" : "";
}

std::optional<int64_t> parse_size(const std::string& text) {
  // libstdc++'s regex matcher recurses per character: a huge value would exhaust the stack.
  if (text.size() > 64) return std::nullopt;
  static const std::regex kSize("\\s*([0-9]+(\\.[0-9]+)?)\\s*([KMGTkmgt]i?)?[Bb]?\\s*");
  std::smatch m;
  if (!std::regex_match(text, m, kSize)) return std::nullopt;
  double value = std::stod(m[1].str());
  std::string unit = m[3].str();
  double scale = 1;
  if (!unit.empty()) {
    const std::string order = "kmgt";
    size_t power =
        order.find(static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0])))) + 1;
    double base = unit.size() == 2 ? 1024.0 : 1000.0;
    scale = std::pow(base, static_cast<double>(power));
  }
  return static_cast<int64_t>(std::llround(value * scale));
}

}  // namespace llmops::engine
