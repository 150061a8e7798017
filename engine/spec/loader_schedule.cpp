// Pipeline loading: the `schedule:` block (see engine/spec/schedule.hpp for what each field means).
#include <algorithm>
#include <functional>
#include <set>

#include "engine/spec/loader_impl.hpp"
#include "engine/triggers/watch.hpp"

namespace llmops::engine {

using nlohmann::json;

const char* to_string(ConcurrencyPolicy p) {
  switch (p) {
    case ConcurrencyPolicy::kAllow:
      return "allow";
    case ConcurrencyPolicy::kForbid:
      return "forbid";
    case ConcurrencyPolicy::kReplace:
      return "replace";
  }
  return "?";
}

const char* to_string(CatchupPolicy p) {
  switch (p) {
    case CatchupPolicy::kNone:
      return "none";
    case CatchupPolicy::kLatest:
      return "latest";
    case CatchupPolicy::kAll:
      return "all";
  }
  return "?";
}

namespace detail {
namespace {

const std::vector<std::string> kScheduleKeys = {
    "name",    "cron",        "watch",  "timezone", "params",           "concurrency",
    "catchup", "max_catchup", "jitter", "suspend",  "starting_deadline"};
// Keys that mean something for cron entries only.
const std::vector<std::string> kCronOnlyKeys = {"timezone", "catchup", "max_catchup", "jitter",
                                                "starting_deadline"};
constexpr double kMinPoll = 1, kMaxWatchDuration = 7 * 86400;
const std::vector<std::string> kConcurrency = {"allow", "forbid", "replace"};
const std::vector<std::string> kCatchup = {"none", "latest", "all"};

bool value_fits(const std::string& type, const json& v) {
  if (type == "string") return v.is_string() || v.is_number() || v.is_boolean();
  if (type == "int") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "bool") return v.is_boolean();
  if (type == "list") return v.is_array();
  if (type == "map") return v.is_object();
  return true;
}

using PosAt = std::function<SourcePos(const YAML::Node&, size_t)>;

// `watch:` of a schedule entry: a glob, or {glob: GLOB | [GLOB, ...], poll: DURATION, settle: ...}.
// `at(node, offset)` is where character `offset` of a scalar sits, for errors inside a glob.
std::optional<WatchSpec> parse_watch(Loader& loader, const Entry& e, const std::string& what,
                                     const PosAt& at) {
  const std::string where = "'watch' of " + what;
  WatchSpec w;
  bool ok = true;
  auto add_glob = [&](const YAML::Node& node, SourcePos pos) {
    if (!node.IsScalar() || node.IsNull()) {
      loader.error(pos, "a glob in " + where + " must be a string, got " + yaml_type_name(node));
      ok = false;
      return;
    }
    size_t off = 0;
    if (Status st = check_glob(node.Scalar(), &off); !st) {
      loader.error(at(node, off), where + ": " + st.message());
      ok = false;
      return;
    }
    w.globs.push_back(node.Scalar());
  };
  if (e.value.IsScalar() && !e.value.IsNull()) {
    add_glob(e.value, e.value_pos);  // the short form: `watch: "data/incoming/*.jsonl"`
  } else if (e.value.IsMap()) {
    bool has_glob = false;
    for (const auto& item :
         loader.entries(e.value, e.value_pos, where, {"glob", "poll", "settle"})) {
      if (item.key == "glob") {
        has_glob = true;
        if (!item.value.IsSequence()) {
          add_glob(item.value, item.value_pos);
        } else if (item.value.size() == 0) {
          loader.error(item.value_pos, "'glob' in " + where + " is an empty list: give a glob");
          ok = false;
        } else {
          for (size_t i = 0; i < item.value.size(); ++i) {
            add_glob(item.value[i], pos_of(item.value[i]));
          }
        }
        continue;
      }
      auto v = loader.get_duration(item, where);
      if (v && item.key == "poll" && *v < kMinPoll) {
        loader.error(item.value_pos,
                     "'poll' in " + where + " must be at least 1s, got " + item.value.Scalar());
        v.reset();
      } else if (v && *v > kMaxWatchDuration) {
        loader.error(item.value_pos, "'" + item.key + "' in " + where +
                                         " must be at most 7d, got " + item.value.Scalar());
        v.reset();
      }
      if (v) (item.key == "poll" ? w.poll_s : w.settle_s) = *v;
      ok = ok && v;
    }
    if (!has_glob) {
      loader.error(e.value_pos, where + " needs 'glob' (files such as data/incoming/*.jsonl)");
      ok = false;
    }
  } else {
    loader.error(e.value_pos, where +
                                  " must be a glob (\"data/incoming/*.jsonl\") or a mapping "
                                  "{glob, poll, settle}, got " +
                                  yaml_type_name(e.value));
    ok = false;
  }
  if (!ok) return std::nullopt;
  return w;
}

}  // namespace

SourcePos Loader::pos_in_scalar(const YAML::Node& node, size_t offset) const {
  const SourcePos pos = pos_of(node);
  if (pos.line < 1 || pos.line > static_cast<int>(lines_.size()) || !node.IsScalar()) return pos;
  const std::string& line = lines_[pos.line - 1];
  if (pos.col < 1 || static_cast<size_t>(pos.col) > line.size()) return pos;
  const std::string raw = line.substr(pos.col - 1);
  const std::string& text = node.Scalar();
  offset = std::min(offset, text.size());
  if (!raw.empty() && (raw[0] == '"' || raw[0] == '\'')) {
    // Quoted on one line without escapes: the text sits right after the opening quote.
    if (raw.size() > text.size() + 1 && raw.compare(1, text.size(), text) == 0 &&
        raw[text.size() + 1] == raw[0]) {
      return {pos.line, pos.col + 1 + static_cast<int>(offset)};
    }
    return pos;
  }
  if (raw.compare(0, text.size(), text) == 0) return {pos.line, pos.col + static_cast<int>(offset)};
  return pos;  // a block or folded scalar: point at its start
}

void Loader::load_schedule(const Entry& e) {
  const YAML::Node& node = e.value;
  if (node.IsMap()) {
    load_schedule_entry(node, e.value_pos, spec_.name, "'schedule'");
    return;
  }
  if (!node.IsSequence()) {
    error(e.value_pos,
          "'schedule' must be a mapping (cron: ..., timezone: ...) or a list of them, "
          "got " +
              yaml_type_name(node));
    return;
  }
  if (node.size() == 0) {
    error(e.value_pos, "'schedule' is an empty list: give at least one entry, or remove it");
    return;
  }
  std::map<std::string, SourcePos> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& item = node[i];
    const std::string what = "entry " + std::to_string(i + 1) + " of 'schedule'";
    std::string label = std::to_string(i + 1);
    if (item.IsMap() && item["name"] && item["name"].IsScalar()) {
      label = item["name"].Scalar();
      if (auto prev = seen.find(label); prev != seen.end()) {
        error(pos_of(item["name"]), "duplicate schedule name '" + label + "' (first used at line " +
                                        std::to_string(prev->second.line) + "); rename one");
        continue;
      }
      seen[label] = pos_of(item["name"]);
    }
    if (!item.IsMap()) {
      error(pos_of(item).line ? pos_of(item) : e.value_pos,
            what + " must be a mapping (cron: ..., timezone: ...), got " + yaml_type_name(item));
      continue;
    }
    load_schedule_entry(item, pos_of(item), spec_.name + "/" + label, what);
  }
}

void Loader::load_schedule_entry(const YAML::Node& node, SourcePos where, const std::string& id,
                                 const std::string& what) {
  ScheduleSpec s;
  s.id = id;
  s.pos = where;
  bool ok = true;
  const Entry* cron_entry = nullptr;
  const Entry* watch_entry = nullptr;
  const Entry* tz_entry = nullptr;
  auto items = entries(node, where, what, kScheduleKeys);
  for (const auto& item : items) {
    if (item.key == "name") {
      auto v = get_string(item, what);
      if (v && !matches_name(*v, false, false)) {
        error(item.value_pos, "invalid schedule name '" + *v +
                                  "': use lowercase letters, digits, '-' and '_', starting with a "
                                  "letter or digit");
        v.reset();
      }
      if (v) s.name = *v;
      ok = ok && v;
    } else if (item.key == "cron") {
      cron_entry = &item;
      auto v = get_string(item, what);
      if (v) s.expression = *v;
      s.cron_pos = item.value_pos;
      ok = ok && v;
    } else if (item.key == "watch") {
      watch_entry = &item;
      s.watch_pos = item.value_pos;
      s.watch = parse_watch(*this, item, what, [this](const YAML::Node& n, size_t off) {
        return pos_in_scalar(n, off);
      });
      ok = ok && s.watch;
    } else if (item.key == "timezone") {
      tz_entry = &item;
      auto v = get_string(item, what);
      if (v) s.timezone = *v;
      ok = ok && v;
    } else if (item.key == "params") {
      if (!item.value.IsMap()) {
        entries(item.value, item.value_pos, "'params' of " + what, {});  // reports the type
        ok = false;
        continue;
      }
      check_nested_duplicates(item.value, "'params' of " + what);
      for (const auto& p : entries(item.value, item.value_pos, "'params' of " + what, {})) {
        auto it = std::find_if(spec_.params.begin(), spec_.params.end(),
                               [&](const ParamSpec& ps) { return ps.name == p.key; });
        if (it == spec_.params.end()) {
          std::vector<std::string> names;
          for (const auto& ps : spec_.params) names.push_back(ps.name);
          error(p.key_pos, "unknown parameter '" + p.key + "' in 'params' of " + what +
                               did_you_mean(p.key, names) +
                               (names.empty() ? " (the pipeline declares no parameters)"
                                              : " (the pipeline declares: " + join(names) + ")"));
          ok = false;
          continue;
        }
        json v = yaml_to_json(p.value);
        if (!value_fits(it->type, v)) {
          error(p.value_pos, "parameter '" + p.key + "' is " + (it->type == "int" ? "an " : "a ") +
                                 it->type + ", got " + yaml_type_name(p.value) +
                                 " in 'params' of " + what);
          ok = false;
          continue;
        }
        s.params[p.key] = v;
      }
    } else if (item.key == "concurrency" || item.key == "catchup") {
      const auto& allowed = item.key == "concurrency" ? kConcurrency : kCatchup;
      auto v = get_string(item, what);
      if (v && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
        error(item.value_pos, "unknown " + item.key + " policy '" + *v + "' in " + what +
                                  did_you_mean(*v, allowed) + " (expected " + join(allowed) + ")");
        v.reset();
      }
      if (v && item.key == "concurrency") {
        s.concurrency = *v == "allow"    ? ConcurrencyPolicy::kAllow
                        : *v == "forbid" ? ConcurrencyPolicy::kForbid
                                         : ConcurrencyPolicy::kReplace;
      } else if (v) {
        s.catchup = *v == "none"     ? CatchupPolicy::kNone
                    : *v == "latest" ? CatchupPolicy::kLatest
                                     : CatchupPolicy::kAll;
      }
      ok = ok && v;
    } else if (item.key == "max_catchup") {
      auto v = get_int(item, what);
      if (v && (*v < 1 || *v > 100000)) {
        error(item.value_pos, "'max_catchup' in " + what + " must be between 1 and 100000, got " +
                                  std::to_string(*v));
        v.reset();
      }
      if (v) s.max_catchup = static_cast<int>(*v);
      ok = ok && v;
    } else if (item.key == "starting_deadline") {
      auto v = get_duration(item, what);
      if (v) s.starting_deadline_s = *v;
      ok = ok && v;
    } else if (item.key == "jitter") {
      auto v = get_duration(item, what);
      if (v) s.jitter_s = *v;
      ok = ok && v;
    } else if (item.key == "suspend") {
      auto v = get_bool(item, what);
      if (v) s.suspend = *v;
      ok = ok && v;
    }
  }
  if (watch_entry) {
    if (cron_entry) {
      error(watch_entry->key_pos, what +
                                      " has both 'cron' and 'watch': give one (two entries can "
                                      "use one each)");
      ok = false;
    }
    for (const auto& item : items) {
      if (std::find(kCronOnlyKeys.begin(), kCronOnlyKeys.end(), item.key) == kCronOnlyKeys.end())
        continue;
      error(item.key_pos, "'" + item.key + "' applies to cron entries only; " + what +
                              " is a 'watch' entry (it starts a run when its files change)");
      ok = false;
    }
  }
  if (!cron_entry && !watch_entry) {
    error(where, what +
                     " needs 'cron' (an expression such as \"0 3 * * *\" or @daily) or 'watch' "
                     "(files such as data/incoming/*.jsonl)");
    ok = false;
  } else if (!cron_entry) {
    // A watch entry: nothing more to parse.
  } else if (!s.expression.empty() || cron_entry->value.IsScalar()) {
    size_t off = 0;
    auto parsed = CronSpec::parse(s.expression, s.timezone, &off);
    if (parsed) {
      s.cron = *parsed;
    } else if (off == std::string::npos) {
      error(tz_entry ? tz_entry->value_pos : where, what + ": " + parsed.status().message());
      ok = false;
    } else {
      error(pos_in_scalar(cron_entry->value, off), what + ": " + parsed.status().message());
      ok = false;
      // The zone is checked on its own too, so both mistakes show at once.
      auto zone = CronSpec::parse("0 0 * * *", s.timezone, &off);
      if (!zone && tz_entry) error(tz_entry->value_pos, what + ": " + zone.status().message());
    }
  }
  if (ok) spec_.schedules.push_back(std::move(s));
}

}  // namespace detail
}  // namespace llmops::engine
