// Orchestration of the synthetic generator: clean conversations kept distinct, dirt injected in
// exact amounts, a deterministic shuffle, and the manifest.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "minhash.hpp"
#include "plugins/common/pii.hpp"
#include "synth.hpp"
#include "synth_internal.hpp"
#include "text.hpp"

namespace llmops::curators {

using namespace synth;
using ojson = nlohmann::ordered_json;

namespace {

struct Item {
  std::string line;
  std::string kind;
};

class Generator {
 public:
  Generator(const SynthOptions& o, int64_t today)
      : opt_(o),
        rng_(o.seed),
        today_(today),
        mh_(128, 5, 1),
        lsh_(128, 16, o.uniqueness_threshold) {}

  Status run(std::ostream& out, SynthResult& res);

 private:
  Conversation fresh(std::string& intent, std::string& source, bool off_topic = false,
                     int exchanges = 0);
  Result<Conversation> unique(std::string& intent, std::string& source, bool off_topic = false);
  bool admit(const Conversation& c);
  void add_meta(Conversation& c, const std::string& intent, const std::string& source) {
    ojson m;
    m["intent"] = intent;
    m["scenario"] = opt_.scenario;
    m["source"] = source;
    c.metadata_json = m.dump();
  }
  void inject_pii(Conversation& c);

  const SynthOptions& opt_;
  Rng rng_;
  int64_t today_;
  MinHasher mh_;
  LshIndex lsh_;
  std::unordered_set<uint64_t> exact_;
  std::map<std::string, int64_t> pii_, intents_, sources_, reasons_;
  int64_t retries_ = 0;
};

Conversation Generator::fresh(std::string& intent, std::string& source, bool off_topic,
                              int exchanges) {
  const bool prod = opt_.scenario == "production-shift";
  Context c{rng_, today_, opt_.typo_rate, prod};
  Conversation conv;
  if (opt_.system_prompt) conv.messages.push_back(Message{"system", system_prompt(c, prod)});
  if (off_topic) {
    for (auto& m : off_topic_exchange(c)) conv.messages.push_back(std::move(m));
    intent = "off_topic";
    source = "chatter";
    return conv;
  }
  if (exchanges == 0) exchanges = rng_.chance(opt_.multi_turn_rate) ? 2 : 1;
  intent.clear();
  source = prod ? "production" : "synthetic";
  for (int e = 0; e < exchanges; ++e) {
    std::string one;
    std::vector<Message> ms;
    if (prod && rng_.chance(opt_.new_intent_rate)) {
      ms = new_intent_exchange(c, one);
      source = "reviewed_correction";
    } else {
      ms = base_exchange(c, one);
    }
    intent += (intent.empty() ? "" : "+") + one;
    for (auto& m : ms) conv.messages.push_back(std::move(m));
  }
  return conv;
}

bool Generator::admit(const Conversation& c) {
  if (!opt_.ensure_unique) return true;
  const auto text = dedup_text(c);
  const auto key = hash64(normalize_text(text));
  if (exact_.count(key)) return false;
  std::vector<uint32_t> sig;
  mh_.signature(text, sig);
  if (lsh_.query(sig) >= 0) return false;
  exact_.insert(key);
  lsh_.insert(sig);
  return true;
}

Result<Conversation> Generator::unique(std::string& intent, std::string& source, bool off_topic) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto c = fresh(intent, source, off_topic);
    if (admit(c)) return c;
    ++retries_;
  }
  return Status::invalid(std::string("cannot generate enough distinct ") +
                         (off_topic ? "off-topic chatter" : "task conversations") + " after " +
                         std::to_string(exact_.size()) +
                         " (count too large for the vocabulary); lower count or the rate, or set "
                         "ensure_unique: false");
}

std::string luhn_card(Rng& rng) {
  std::string d = "4";
  while (d.size() < 15) d += static_cast<char>('0' + rng.below(10));
  for (char c = '0'; c <= '9'; ++c)
    if (common::luhn_ok(d + c)) {
      d += c;
      break;
    }
  return d.substr(0, 4) + " " + d.substr(4, 4) + " " + d.substr(8, 4) + " " + d.substr(12, 4);
}

std::string rand_chars(Rng& rng, size_t n, const char* alphabet) {
  const std::string a(alphabet);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += a[rng.below(a.size())];
  return s;
}

void Generator::inject_pii(Conversation& c) {
  static const std::vector<std::string> kFirst = {"jane", "omar", "li", "sofia", "ben", "aoife"};
  static const std::vector<std::string> kDomain = {"example.com", "mail.test", "corp.example.org"};
  const int n = rng_.chance(0.2) ? 2 : 1;
  auto& user = *std::find_if(c.messages.begin(), c.messages.end(),
                             [](const Message& m) { return m.role == "user"; });
  for (int i = 0; i < n; ++i) {
    std::string s;
    switch (rng_.below(6)) {
      case 0:
        s = " My email is " + rng_.pick(kFirst) + "." + std::to_string(rng_.below(100)) + "@" +
            rng_.pick(kDomain) + ", in case you need it.";
        ++pii_["email"];
        break;
      case 1: {
        static const std::vector<std::string> kFmt = {"+1 415-555-01", "(415) 555-01", "415.555.01",
                                                      "+44 20 7946 09"};
        s = " You can reach me at " + rng_.pick(kFmt) + std::to_string(10 + rng_.below(90)) + ".";
        ++pii_["phone"];
        break;
      }
      case 2:
        s = " Here's my API key, use it: " +
            (rng_.chance(0.5)
                 ? "sk-" + rand_chars(rng_, 32,
                                      "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                 : "ghp_" + rand_chars(rng_, 36,
                                       "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"));
        ++pii_["api_key"];
        break;
      case 3:
        s = " Our server is at 10." + std::to_string(rng_.below(256)) + "." +
            std::to_string(rng_.below(256)) + "." + std::to_string(1 + rng_.below(254)) + " btw.";
        ++pii_["ipv4"];
        break;
      case 4:
        s = " The VPN endpoint is 2001:db8::" + rand_chars(rng_, 4, "0123456789abcdef") + ":" +
            rand_chars(rng_, 3, "123456789abcdef") + " if that matters.";
        ++pii_["ipv6"];
        break;
      default:
        s = " Charge it to my card " + luhn_card(rng_) + ".";
        ++pii_["credit_card"];
    }
    user.content += s;
  }
}

Status Generator::run(std::ostream& out, SynthResult& res) {
  const auto n = [&](double rate) { return static_cast<int64_t>(std::llround(rate * opt_.count)); };
  const int64_t n_exact = n(opt_.exact_duplicate_rate), n_near = n(opt_.near_duplicate_rate),
                n_pii = n(opt_.pii_rate), n_json = n(opt_.malformed_json_rate),
                n_utf8 = n(opt_.invalid_utf8_rate), n_empty = n(opt_.empty_turn_rate),
                n_order = n(opt_.wrong_order_rate), n_long = n(opt_.overlong_rate),
                n_off = n(opt_.off_topic_rate);
  const int64_t n_clean =
      opt_.count - n_exact - n_near - n_pii - n_json - n_utf8 - n_empty - n_order - n_long - n_off;
  if (n_clean < n_exact + n_near)
    return Status::invalid("dirt rates leave too few clean conversations to duplicate");

  std::vector<Item> items;
  std::vector<Conversation> clean;
  items.reserve(static_cast<size_t>(opt_.count));
  std::string intent, source;
  for (int64_t i = 0; i < n_clean; ++i) {
    auto c = unique(intent, source);
    if (!c) return c.status();
    ++intents_[intent];
    ++sources_[source];
    add_meta(*c, intent, source);
    items.push_back({to_jsonl(*c), "clean"});
    clean.push_back(std::move(*c));
  }
  // Duplicates of distinct clean conversations.
  std::vector<size_t> order(clean.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);
  size_t next = 0;
  for (int64_t i = 0; i < n_exact; ++i)
    items.push_back({items[order[next++]].line, "exact_duplicate"});
  static const std::vector<std::string> kPrefix = {"hey, ",       "hi! ",    "ok so ",
                                                   "quick one: ", "hello, ", "um, "};
  for (int64_t i = 0; i < n_near;) {
    if (next >= order.size())
      return Status::invalid("too few clean conversations for near duplicates");
    Conversation c = clean[order[next++]];
    auto& u = *std::find_if(c.messages.begin(), c.messages.end(),
                            [](const Message& m) { return m.role == "user"; });
    u.content = rng_.pick(kPrefix) + lower_first(u.content);
    if (rng_.chance(0.5) && !u.content.empty() && u.content.back() != '?') u.content += "!";
    std::vector<uint32_t> a, b;
    mh_.signature(dedup_text(clean[order[next - 1]]), a);
    mh_.signature(dedup_text(c), b);
    if (estimated_jaccard(a.data(), b.data(), 128) < 0.85) continue;  // too short to be "near"
    items.push_back({to_jsonl(c), "near_duplicate"});
    ++i;
  }
  for (int64_t i = 0; i < n_pii; ++i) {
    auto c = unique(intent, source);
    if (!c) return c.status();
    ++intents_[intent];
    ++sources_[source];
    inject_pii(*c);
    add_meta(*c, intent, source);
    items.push_back({to_jsonl(*c), "pii"});
  }
  for (int64_t i = 0; i < n_off; ++i) {
    auto c = unique(intent, source, true);
    if (!c) return c.status();
    add_meta(*c, intent, source);
    items.push_back({to_jsonl(*c), "off_topic"});
  }
  for (int64_t i = 0; i < n_json; ++i) {
    auto c = fresh(intent, source);
    add_meta(c, intent, source);
    auto line = to_jsonl(c);
    switch (rng_.below(3)) {
      case 0:
        line.resize(1 + rng_.below(line.size() - 1));
        break;
      case 1:
        line[line.find('"')] = '\'';
        break;
      default:
        line += "}";
        break;
    }
    items.push_back({line, "malformed_json"});
  }
  static const std::vector<std::string> kBad = {"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf"};
  for (int64_t i = 0; i < n_utf8; ++i) {
    auto c = fresh(intent, source);
    add_meta(c, intent, source);
    auto& u = *std::find_if(c.messages.begin(), c.messages.end(),
                            [](const Message& m) { return m.role == "user"; });
    auto sp = u.content.find(' ');
    u.content.insert(sp == std::string::npos ? u.content.size() : sp, rng_.pick(kBad));
    items.push_back({to_jsonl(c), "invalid_utf8"});
  }
  for (int64_t i = 0; i < n_empty; ++i) {
    auto c = fresh(intent, source);
    add_meta(c, intent, source);
    if (rng_.chance(0.5)) {
      c.messages.back().content.clear();  // the final reply, which has no tool calls
    } else {
      std::find_if(c.messages.begin(), c.messages.end(), [](const Message& m) {
        return m.role == "user";
      })->content = "";
    }
    items.push_back({to_jsonl(c), "empty_turn"});
  }
  for (int64_t i = 0; i < n_order; ++i) {
    auto c = fresh(intent, source);
    add_meta(c, intent, source);
    auto u = std::find_if(c.messages.begin(), c.messages.end(),
                          [](const Message& m) { return m.role == "user"; });
    if (rng_.chance(0.5))
      std::iter_swap(u, u + 1);  // the assistant speaks first
    else
      c.messages.insert(u + 1, *u);  // two user turns in a row
    items.push_back({to_jsonl(c), "wrong_order"});
  }
  int64_t long_chars = 0, long_turns = 0;
  for (int64_t i = 0; i < n_long; ++i) {
    Conversation c;
    if (i % 2 == 0) {
      c = fresh(intent, source, false, 26);
      ++long_turns;
    } else {
      c = fresh(intent, source);
      auto& u = *std::find_if(c.messages.begin(), c.messages.end(),
                              [](const Message& m) { return m.role == "user"; });
      std::string log = "\nHere is the whole log:\n";
      for (int k = 0; log.size() < 20000; ++k)
        log += iso_date(today_) + " 10:" + std::to_string(10 + k % 50) + " INFO worker-" +
               std::to_string(k % 7) + " request handled in " + std::to_string(k % 97) + " ms\n";
      u.content += log;
      ++long_chars;
    }
    add_meta(c, intent, source);
    items.push_back({to_jsonl(c), "overlong"});
  }
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng_.below(i)]);
  for (const auto& it : items) {
    out << it.line << '\n';
    res.bytes += static_cast<int64_t>(it.line.size() + 1);
  }
  res.lines = static_cast<int64_t>(items.size());
  if (!out) return Status::internal("cannot write the generated lines");

  ojson m;
  m["version"] = 1;
  m["generator"] = "curator/synthetic-tasks";
  m["seed"] = opt_.seed;
  m["count"] = opt_.count;
  m["scenario"] = opt_.scenario;
  m["reference_date"] = opt_.reference_date;
  m["lines"] = res.lines;
  m["bytes"] = res.bytes;
  m["clean"] = n_clean;
  m["dirt"] = {{"exact_duplicate", n_exact}, {"near_duplicate", n_near}, {"pii_lines", n_pii},
               {"malformed_json", n_json},   {"invalid_utf8", n_utf8},   {"empty_turn", n_empty},
               {"wrong_order", n_order},     {"overlong", n_long},       {"off_topic", n_off}};
  ojson pii = ojson::object();
  for (const char* k : {"email", "phone", "ipv4", "ipv6", "credit_card", "api_key"})
    pii[k] = pii_.count(k) ? pii_[k] : 0;
  m["pii"] = pii;
  m["expected_rejections"] = {{"malformed_json", n_json},       {"invalid_utf8", n_utf8},
                              {"structure", n_empty + n_order}, {"too_long", long_chars},
                              {"too_many_turns", long_turns},   {"exact_duplicate", n_exact},
                              {"near_duplicate", n_near}};
  m["expected_kept"] = opt_.count - n_json - n_utf8 - n_empty - n_order - n_long - n_exact - n_near;
  m["off_topic_note"] =
      "off-topic chatter passes the default filters; curator/jsonl with topic_keywords [\"task\"] "
      "rejects exactly dirt.off_topic lines as off_topic";
  m["intents"] = intents_;
  m["sources"] = sources_;
  m["uniqueness_retries"] = retries_;
  res.manifest_json = m.dump(2);
  return Status::ok();
}

}  // namespace

Result<SynthResult> generate_synthetic(const SynthOptions& opt, std::ostream& out) {
  if (opt.count < 0) return Status::invalid("count must be >= 0");
  if (opt.scenario != "base" && opt.scenario != "production-shift")
    return Status::invalid("scenario must be 'base' or 'production-shift', got '" + opt.scenario +
                           "'");
  for (double r :
       {opt.exact_duplicate_rate, opt.near_duplicate_rate, opt.pii_rate, opt.malformed_json_rate,
        opt.invalid_utf8_rate, opt.empty_turn_rate, opt.wrong_order_rate, opt.overlong_rate,
        opt.off_topic_rate, opt.typo_rate, opt.multi_turn_rate, opt.new_intent_rate})
    if (!(r >= 0 && r <= 1)) return Status::invalid("rates must lie in [0, 1]");
  int y;
  unsigned mo, d;
  if (opt.reference_date.size() != 10 ||
      std::sscanf(opt.reference_date.c_str(), "%d-%u-%u", &y, &mo, &d) != 3 || mo < 1 || mo > 12 ||
      d < 1 || d > 31)
    return Status::invalid("reference_date must be YYYY-MM-DD, got '" + opt.reference_date + "'");
  Generator g(opt, days_from_civil(y, mo, d));
  SynthResult res;
  if (auto s = g.run(out, res); !s) return s;
  return res;
}

std::string synthetic_tools_json(const std::string& scenario) {
  ojson tools = ojson::array();
  auto fn = [&](const char* name, const char* desc, ojson props, std::vector<std::string> req) {
    ojson f;
    f["type"] = "function";
    f["function"]["name"] = name;
    f["function"]["description"] = desc;
    f["function"]["parameters"] = {{"type", "object"}, {"properties", props}, {"required", req}};
    tools.push_back(f);
  };
  const ojson str = {{"type", "string"}};
  const ojson date = {{"type", "string"}, {"format", "date"}};
  const ojson prio = {{"type", "string"}, {"enum", {"low", "medium", "high", "urgent"}}};
  fn("create_task", "Create a task for the user",
     {{"title", str}, {"due_date", date}, {"priority", prio}}, {"title"});
  fn("list_tasks", "List the user's tasks",
     {{"status", {{"type", "string"}, {"enum", {"open", "done"}}}},
      {"label", str},
      {"due_before", date}},
     {});
  fn("update_task", "Rename a task", {{"task_id", str}, {"title", str}}, {"task_id", "title"});
  fn("complete_task", "Mark a task as done", {{"task_id", str}}, {"task_id"});
  fn("delete_task", "Delete one of the user's own tasks", {{"task_id", str}}, {"task_id"});
  fn("set_priority", "Set a task's priority", {{"task_id", str}, {"priority", prio}},
     {"task_id", "priority"});
  fn("add_label", "Add a label to a task", {{"task_id", str}, {"label", str}},
     {"task_id", "label"});
  fn("assign_task", "Assign a task to a teammate", {{"task_id", str}, {"assignee", str}},
     {"task_id", "assignee"});
  fn("set_due_date", "Set a task's due date", {{"task_id", str}, {"due_date", date}},
     {"task_id", "due_date"});
  fn("search_tasks", "Search the user's tasks", {{"query", str}}, {"query"});
  if (scenario == "production-shift") {
    fn("create_recurring_task", "Create a task that repeats",
       {{"title", str},
        {"recurrence", {{"type", "string"}, {"enum", {"daily", "weekly", "monthly"}}}},
        {"weekday", str},
        {"day_of_month", {{"type", "integer"}}}},
       {"title", "recurrence"});
    fn("add_subtask", "Add a subtask under a task", {{"parent_id", str}, {"title", str}},
       {"parent_id", "title"});
    fn("bulk_update", "Apply one action to every task matching a filter",
       {{"filter", {{"type", "object"}}},
        {"action", {{"type", "string"}, {"enum", {"complete", "delete", "set_due_date"}}}},
        {"due_date", date}},
       {"filter", "action"});
  }
  return tools.dump(2);
}

}  // namespace llmops::curators
