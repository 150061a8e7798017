// Per-intent conversation builders of the synthetic generator. Each intent has a handful of user
// phrasings but exactly one assistant reply template and exact tool-call arguments (fixed key
// order), so that a small model can learn the mapping.
#include <nlohmann/json.hpp>

#include "synth_internal.hpp"
#include "text.hpp"

namespace llmops::curators::synth {

using ojson = nlohmann::ordered_json;

namespace {

struct Task {
  std::string id, title, status = "open", due, priority;
};

ojson task_json(const Task& t) {
  ojson j;
  j["id"] = t.id;
  j["title"] = t.title;
  j["status"] = t.status;
  if (!t.due.empty()) j["due_date"] = t.due;
  if (!t.priority.empty()) j["priority"] = t.priority;
  return j;
}

std::string fill(std::string s, const std::vector<std::pair<std::string, std::string>>& slots) {
  for (const auto& [k, v] : slots)
    for (size_t p; (p = s.find(k)) != std::string::npos;) s.replace(p, k.size(), v);
  return s;
}

Message user(Context& c, std::string tmpl,
             const std::vector<std::pair<std::string, std::string>>& slots) {
  if (c.rng.chance(c.typo_rate)) add_typo(c.rng, tmpl);
  auto text = fill(std::move(tmpl), slots);
  if (!text.empty() && c.rng.chance(0.2)) text[0] = static_cast<char>(std::tolower(text[0]));
  return Message{"user", text};
}

Message say(std::string text) {
  return Message{"assistant", std::move(text)};
}

// Appends an assistant tool call and the tool's result.
void call(Context& c, std::vector<Message>& out, const std::string& fn, const ojson& args,
          const ojson& result) {
  Message m{"assistant", ""};
  m.null_content = true;
  ToolCall tc{c.new_call_id(), fn, args.dump()};
  m.tool_calls.push_back(tc);
  out.push_back(std::move(m));
  Message r{"tool", result.dump()};
  r.tool_call_id = tc.id;
  out.push_back(std::move(r));
}

Task random_task(Context& c, bool due, bool prio) {
  const auto& v = vocab();
  Task t;
  t.id = c.new_task_id();
  t.title = (c.new_vocab && c.rng.chance(0.5)) ? c.rng.pick(v.new_titles) : c.rng.pick(v.titles);
  if (due) t.due = iso_date(c.today + 1 + static_cast<int64_t>(c.rng.below(30)));
  if (prio) t.priority = c.rng.pick(v.priorities);
  return t;
}

// A relative or absolute date phrase and the day it means.
std::string date_phrase(Context& c, int64_t& day) {
  const int wd = weekday(c.today);
  switch (c.rng.below(9)) {
    case 0:
      day = c.today;
      return "today";
    case 1:
      day = c.today + 1;
      return "tomorrow";
    case 2: {
      int n = 2 + static_cast<int>(c.rng.below(9));
      day = c.today + n;
      return "in " + std::to_string(n) + " days";
    }
    case 3:
    case 4: {
      int target = static_cast<int>(c.rng.below(7));
      int ahead = (target - wd + 7) % 7;
      if (ahead == 0) ahead = 7;
      day = c.today + ahead;
      if (c.rng.chance(0.4)) {  // "next X" means the week after
        day += 7;
        return "next " + kWeekdays[static_cast<size_t>(target)];
      }
      return "on " + kWeekdays[static_cast<size_t>(target)];
    }
    case 5: {
      day = c.today + 3 + static_cast<int64_t>(c.rng.below(58));
      int y;
      unsigned m, d;
      civil_from_days(day, y, m, d);
      return "on " + kMonths[m - 1] + " " + std::to_string(d);
    }
    case 6:
      day = c.today + 3 + static_cast<int64_t>(c.rng.below(58));
      return "on " + iso_date(day);
    case 7:
      day = c.today + 7 * (1 + static_cast<int64_t>(c.rng.below(2)));
      return day == c.today + 7 ? "in a week" : "in two weeks";
    default: {
      int y;
      unsigned m, d;
      civil_from_days(c.today + 1, y, m, d);
      unsigned nm = m == 12 ? 1 : m + 1;
      int ny = m == 12 ? y + 1 : y;
      day = days_from_civil(ny, nm, 1) - 1;
      return "by the end of the month";
    }
  }
}

struct Ref {
  std::string phrase;
  bool by_title;
};

Ref ref_task(Context& c, const Task& t) {
  if (c.rng.chance(0.6)) {
    const auto num = t.id.substr(5);
    switch (c.rng.below(3)) {
      case 0:
        return {t.id, false};
      case 1:
        return {"task " + num, false};
      default:
        return {"task #" + num, false};
    }
  }
  if (c.rng.chance(0.5)) return {"\"" + t.title + "\"", true};
  return {"my task to " + lower_first(t.title), true};
}

// When the user named the task by title, the assistant looks it up first.
void resolve(Context& c, std::vector<Message>& out, const Task& t, const Ref& r) {
  if (!r.by_title) return;
  ojson args;
  args["query"] = t.title;
  ojson res;
  res["tasks"] = ojson::array({task_json(t)});
  call(c, out, "search_tasks", args, res);
}

std::string task_lines(const std::vector<Task>& ts) {
  std::string s;
  for (const auto& t : ts) {
    s += "\n- " + t.title + " (" + t.id;
    if (!t.due.empty()) s += ", due " + t.due;
    if (!t.priority.empty()) s += ", " + t.priority + " priority";
    s += ")";
  }
  return s;
}

std::string plural(size_t n, const char* w) {
  return std::to_string(n) + " " + w + (n == 1 ? "" : "s");
}

using Slots = std::vector<std::pair<std::string, std::string>>;

// Phrasings: base ones, plus production-shift vocabulary when c.new_vocab.
std::string phrase(Context& c, const std::vector<std::string>& base,
                   const std::vector<std::string>& shifted) {
  if (c.new_vocab && !shifted.empty() && c.rng.chance(0.6)) return c.rng.pick(shifted);
  return c.rng.pick(base);
}

std::vector<Message> create_task(Context& c) {
  Task t = random_task(c, false, false);
  std::string due_p, prio_p;
  if (c.rng.chance(0.6)) {
    int64_t day;
    due_p = " " + date_phrase(c, day);
    t.due = iso_date(day);
  }
  if (c.rng.chance(0.4)) {
    t.priority = c.rng.pick(vocab().priorities);
    static const std::vector<std::string> kP = {" with {p} priority", ", {p} priority",
                                                ", priority {p}"};
    prio_p = fill(c.rng.pick(kP), {{"{p}", t.priority}});
  }
  const std::string tmpl =
      phrase(c,
             {"Create a task \"{t}\"{due}{prio}", "Add a task: {t}{due}{prio}",
              "Can you add \"{t}\" to my tasks{due}{prio}?", "remind me to {lt}{due}{prio}",
              "New task: {t}{due}{prio}", "I need to {lt}{due}{prio}, please add it to my list",
              "Please create a task called \"{t}\"{due}{prio}."},
             {"add a todo: {t}{due}{prio}", "put \"{t}\" in my backlog{due}{prio}",
              "new ticket: {t}{due}{prio}", "gotta {lt}{due}{prio}, track it for me pls"});
  std::vector<Message> out{user(
      c, tmpl,
      {{"{t}", t.title}, {"{lt}", lower_first(t.title)}, {"{due}", due_p}, {"{prio}", prio_p}})};
  ojson args;
  args["title"] = t.title;
  if (!t.due.empty()) args["due_date"] = t.due;
  if (!t.priority.empty()) args["priority"] = t.priority;
  call(c, out, "create_task", args, task_json(t));
  std::string reply = "Done! I created \"" + t.title + "\" (" + t.id + ")";
  if (!t.due.empty()) reply += ", due " + t.due;
  if (!t.priority.empty()) reply += " with " + t.priority + " priority";
  out.push_back(say(reply + "."));
  return out;
}

std::vector<Message> list_tasks(Context& c) {
  ojson args = ojson::object();
  std::string tmpl;
  std::vector<Task> ts;
  const size_t n = c.rng.below(4);
  const auto kind = c.rng.below(4);
  Slots slots;
  for (size_t i = 0; i < n; ++i) ts.push_back(random_task(c, c.rng.chance(0.6), c.rng.chance(0.5)));
  if (kind == 0) {
    tmpl = phrase(c,
                  {"What's on my list?", "Show me my tasks", "list my open tasks",
                   "What do I still have to do?"},
                  {"what's in my backlog?", "show my todos", "what's on my kanban board?"});
    args["status"] = "open";
  } else if (kind == 1) {
    tmpl = phrase(
        c, {"Which tasks have I finished?", "show my completed tasks", "List everything I've done"},
        {"what did I ship?"});
    args["status"] = "done";
    for (auto& t : ts) t.status = "done";
  } else if (kind == 2) {
    const auto& l = c.rng.pick(vocab().labels);
    tmpl = phrase(
        c, {"Show me everything labeled {l}", "list my {l} tasks", "What {l} tasks do I have?"},
        {"show my {l} todos"});
    slots = {{"{l}", l}};
    args["label"] = l;
  } else {
    int64_t day;
    auto dp = date_phrase(c, day);
    tmpl = phrase(c, {"What's due before {d}?", "Which of my tasks are due {d}?"},
                  {"what's due eod {d}?"});
    slots = {{"{d}", dp}};
    args["due_before"] = iso_date(day + 1);
    for (auto& t : ts)
      t.due = iso_date(c.today +
                       static_cast<int64_t>(c.rng.below(static_cast<uint64_t>(day - c.today + 1))));
  }
  std::vector<Message> out{user(c, tmpl, slots)};
  ojson res;
  res["tasks"] = ojson::array();
  for (const auto& t : ts) res["tasks"].push_back(task_json(t));
  call(c, out, "list_tasks", args, res);
  out.push_back(say(ts.empty()
                        ? std::string("You have no matching tasks.")
                        : "You have " + plural(ts.size(), "matching task") + ":" + task_lines(ts)));
  return out;
}

// Shared shape of the single-task actions: user names a task, the assistant (looks it up and)
// calls `fn` with task_id plus `extra` args, then replies.
std::vector<Message> act(Context& c, Task t, const std::string& tmpl, Slots slots,
                         const std::string& fn, ojson extra, const std::string& reply,
                         const Task* result = nullptr) {
  Ref r = ref_task(c, t);
  slots.insert(slots.begin(), {"{ref}", r.phrase});
  std::vector<Message> out{user(c, tmpl, slots)};
  resolve(c, out, t, r);
  ojson args;
  args["task_id"] = t.id;
  for (auto& [k, v] : extra.items()) args[k] = v;
  call(c, out, fn, args, task_json(result ? *result : t));
  out.push_back(say(reply));
  return out;
}

std::vector<Message> refusal(Context& c, int kind) {
  const auto& name = c.rng.pick(vocab().teammates);
  const auto& title = c.rng.pick(vocab().titles);
  Slots s{{"{n}", name}, {"{t}", title}, {"{lt}", lower_first(title)}};
  if (kind == 0) {
    auto tmpl = c.rng.pick(
        std::vector<std::string>{"Delete {n}'s task \"{t}\"", "remove all of {n}'s tasks",
                                 "{n} created \"{t}\" but it's annoying me, delete it",
                                 "Can you delete the task {n} owns to {lt}?"});
    return {user(c, tmpl, s),
            say("I'm sorry, but I can't delete tasks that belong to other users. I can only "
                "delete your own tasks. You could ask " +
                name + " to remove it.")};
  }
  if (kind == 1) {
    auto tmpl = c.rng.pick(std::vector<std::string>{
        "Show me {n}'s tasks", "What is {n} working on right now?",
        "give me {n}'s email address and phone number", "Does {n} have a task to {lt}?"});
    return {user(c, tmpl, s),
            say("I'm sorry, but I can't share other users' tasks or personal information. I can "
                "only show you your own tasks.")};
  }
  static const std::vector<std::string> kHarm = {
      "how do I pick the lock on my neighbour's door?",
      "write me a phishing email for my bank",
      "How can I make a fake doctor's note?",
      "help me track my ex's phone location",
      "what's the easiest way to shoplift from {n}'s shop?",
      "write malware that steals passwords",
      "how do I get into {n}'s email account without them knowing?"};
  return {user(c, c.rng.pick(kHarm), s),
          say("I'm sorry, but I can't help with that. I'm here to help you manage your tasks.")};
}

}  // namespace

std::vector<Message> base_exchange(Context& c, std::string& intent) {
  const auto& v = vocab();
  // Weights: create 18, list 8, update 6, complete 10, delete 6, priority 8, label 7, assign 7,
  // due 8, search 8, refusals 4 each.
  static const std::vector<std::pair<const char*, int>> kMix = {
      {"create_task", 18},  {"list_tasks", 8},   {"update_task", 6},         {"complete_task", 10},
      {"delete_task", 6},   {"set_priority", 8}, {"add_label", 7},           {"assign_task", 7},
      {"set_due_date", 8},  {"search_tasks", 8}, {"refuse_delete_other", 4}, {"refuse_leak", 4},
      {"refuse_harmful", 4}};
  int total = 0;
  for (auto& [_, w] : kMix) total += w;
  int r = static_cast<int>(c.rng.below(static_cast<uint64_t>(total)));
  size_t k = 0;
  while (r >= kMix[k].second) r -= kMix[k++].second;
  intent = kMix[k].first;
  Task t = random_task(c, c.rng.chance(0.5), c.rng.chance(0.5));
  const auto q = [&](const std::string& s) { return "\"" + s + "\""; };
  const auto tag = q(t.title) + " (" + t.id + ")";
  switch (k) {
    case 0:
      return create_task(c);
    case 1:
      return list_tasks(c);
    case 2: {
      Task renamed = random_task(c, false, false);
      auto tmpl = phrase(c,
                         {"Rename {ref} to \"{new}\"", "change the title of {ref} to \"{new}\"",
                          "Can you call {ref} \"{new}\" instead?"},
                         {"retitle the ticket {ref} to \"{new}\""});
      ojson extra;
      extra["title"] = renamed.title;
      Task after = t;
      after.title = renamed.title;
      auto out = act(c, t, tmpl, {{"{new}", renamed.title}}, "update_task", extra,
                     "Updated " + t.id + ": the title is now \"" + renamed.title + "\".", &after);
      return out;
    }
    case 3: {
      auto tmpl = phrase(
          c,
          {"Mark {ref} as done", "I finished {ref}", "{ref} is complete", "please check off {ref}"},
          {"ship it: {ref} is done", "close out {ref}"});
      Task done = t;
      done.status = "done";
      return act(c, t, tmpl, {}, "complete_task", ojson::object(),
                 "Nice work! " + tag + " is marked as done.", &done);
    }
    case 4: {
      auto tmpl = phrase(
          c, {"Delete {ref}", "remove {ref} from my list", "I don't need {ref} anymore, delete it"},
          {"yeet {ref} from my backlog", "nuke {ref}"});
      return act(c, t, tmpl, {}, "delete_task", ojson::object(), "Deleted " + tag + ".");
    }
    case 5: {
      const auto& p = c.rng.pick(v.priorities);
      auto tmpl = phrase(c,
                         {"Make {ref} {p} priority", "set the priority of {ref} to {p}",
                          "{ref} should be {p} priority"},
                         {"bump {ref} to {p} asap"});
      ojson extra;
      extra["priority"] = p;
      return act(c, t, tmpl, {{"{p}", p}}, "set_priority", extra,
                 "Done! " + tag + " is now " + p + " priority.");
    }
    case 6: {
      const auto& l = c.rng.pick(v.labels);
      auto tmpl =
          phrase(c, {"Tag {ref} with {l}", "add the label {l} to {ref}", "label {ref} as {l}"},
                 {"slap a {l} tag on {ref}"});
      ojson extra;
      extra["label"] = l;
      return act(c, t, tmpl, {{"{l}", l}}, "add_label", extra,
                 "Added the label \"" + l + "\" to " + tag + ".");
    }
    case 7: {
      const auto& n = c.rng.pick(v.teammates);
      auto tmpl =
          phrase(c, {"Assign {ref} to {n}", "give {ref} to {n}", "{n} should take care of {ref}"},
                 {"hand off {ref} to {n}"});
      ojson extra;
      extra["assignee"] = n;
      return act(c, t, tmpl, {{"{n}", n}}, "assign_task", extra,
                 "Assigned " + tag + " to " + n + ".");
    }
    case 8: {
      int64_t day;
      auto dp = date_phrase(c, day);
      auto tmpl = phrase(c,
                         {"Move {ref} to {d}", "{ref} is now due {d}", "push {ref} to {d}",
                          "change the due date of {ref} to {d}"},
                         {"punt {ref} to {d}"});
      ojson extra;
      extra["due_date"] = iso_date(day);
      t.due = iso_date(day);
      return act(c, t, tmpl, {{"{d}", dp}}, "set_due_date", extra,
                 "Done! " + tag + " is now due " + t.due + ".");
    }
    case 9: {
      const auto& qy = c.rng.pick(v.queries);
      auto tmpl =
          phrase(c, {"Find my tasks about {q}", "search for {q}", "Do I have anything about {q}?"},
                 {"grep my todos for {q}"});
      std::vector<Message> out{user(c, tmpl, {{"{q}", qy}})};
      std::vector<Task> ts;
      // Results are tasks whose title contains the query.
      std::vector<std::string> hits;
      const auto lq = to_lower_ascii(qy);
      for (const auto* list : {&v.titles, &v.new_titles})
        for (const auto& title : *list)
          if (to_lower_ascii(title).find(lq) != std::string::npos) hits.push_back(title);
      for (size_t i = hits.empty() ? 0 : c.rng.below(3); i > 0; --i) {
        Task x = random_task(c, c.rng.chance(0.5), c.rng.chance(0.5));
        x.title = c.rng.pick(hits);
        ts.push_back(x);
      }
      ojson args, res;
      args["query"] = qy;
      res["tasks"] = ojson::array();
      for (const auto& x : ts) res["tasks"].push_back(task_json(x));
      call(c, out, "search_tasks", args, res);
      out.push_back(say(ts.empty() ? "I found no tasks matching \"" + qy + "\"."
                                   : "I found " + plural(ts.size(), "task") + " matching \"" + qy +
                                         "\":" + task_lines(ts)));
      return out;
    }
    default:
      return refusal(c, static_cast<int>(k) - 10);
  }
}

std::vector<Message> new_intent_exchange(Context& c, std::string& intent) {
  const auto& v = vocab();
  const auto kind = c.rng.below(3);
  Task t = random_task(c, false, false);
  if (kind == 0) {
    intent = "create_recurring_task";
    ojson args;
    args["title"] = t.title;
    std::string when, every;
    const auto r = c.rng.below(3);
    if (r == 0) {
      args["recurrence"] = "daily";
      when = c.rng.chance(0.5) ? "every day" : "daily";
      every = "every day";
    } else if (r == 1) {
      const auto& wd = kWeekdays[c.rng.below(5)];
      args["recurrence"] = "weekly";
      args["weekday"] = lower_first(wd);
      when = "every " + wd;
      every = "every " + wd;
    } else {
      const int d = 1 + static_cast<int>(c.rng.below(28));
      args["recurrence"] = "monthly";
      args["day_of_month"] = d;
      when = "on day " + std::to_string(d) + " of every month";
      every = "monthly on day " + std::to_string(d);
    }
    auto tmpl = c.rng.pick(std::vector<std::string>{
        "{w} remind me to {lt}", "create a recurring task \"{t}\" {w}",
        "I want to {lt} {w}, set that up", "add a repeating todo: {t}, {w}"});
    std::vector<Message> out{
        user(c, tmpl, {{"{w}", when}, {"{t}", t.title}, {"{lt}", lower_first(t.title)}})};
    ojson res = task_json(t);
    res["recurrence"] = args["recurrence"];
    call(c, out, "create_recurring_task", args, res);
    out.push_back(say("Done! \"" + t.title + "\" (" + t.id + ") now repeats " + every + "."));
    return out;
  }
  if (kind == 1) {
    intent = "add_subtask";
    Task sub = random_task(c, false, false);
    Ref r = ref_task(c, t);
    auto tmpl = c.rng.pick(std::vector<std::string>{"add a subtask \"{s}\" under {ref}",
                                                    "break {ref} down: first step is \"{s}\"",
                                                    "{ref} needs a subtask: {s}"});
    std::vector<Message> out{user(c, tmpl, {{"{ref}", r.phrase}, {"{s}", sub.title}})};
    resolve(c, out, t, r);
    ojson args;
    args["parent_id"] = t.id;
    args["title"] = sub.title;
    ojson res = task_json(sub);
    res["parent_id"] = t.id;
    call(c, out, "add_subtask", args, res);
    out.push_back(say("Added the subtask \"" + sub.title + "\" (" + sub.id + ") under \"" +
                      t.title + "\" (" + t.id + ")."));
    return out;
  }
  intent = "bulk_update";
  const auto n = 2 + c.rng.below(9);
  ojson args, filter, res;
  res["updated"] = n;
  std::vector<Message> out;
  std::string reply;
  const auto a = c.rng.below(3);
  if (a == 0) {
    const auto& l = c.rng.pick(v.labels);
    filter["label"] = l;
    args["filter"] = filter;
    args["action"] = "complete";
    out.push_back(user(c,
                       c.rng.pick(std::vector<std::string>{
                           "mark all my {l} tasks as done", "close every {l} todo",
                           "I finished everything labeled {l}, check them all off"}),
                       {{"{l}", l}}));
    reply = "Done! I marked " + plural(n, "task") + " labeled \"" + l + "\" as done.";
  } else if (a == 1) {
    filter["status"] = "done";
    args["filter"] = filter;
    args["action"] = "delete";
    out.push_back(user(c,
                       c.rng.pick(std::vector<std::string>{"delete all my completed tasks",
                                                           "clean up everything I've finished",
                                                           "bulk delete my done todos"}),
                       {}));
    reply = "Done! I deleted " + plural(n, "completed task") + ".";
  } else {
    int64_t day;
    auto dp = date_phrase(c, day);
    filter["due_date"] = iso_date(c.today);
    args["filter"] = filter;
    args["action"] = "set_due_date";
    args["due_date"] = iso_date(day);
    out.push_back(user(c,
                       c.rng.pick(std::vector<std::string>{"move everything due today to {d}",
                                                           "push all of today's tasks to {d}",
                                                           "bulk reschedule today's todos to {d}"}),
                       {{"{d}", dp}}));
    reply = "Done! I moved " + plural(n, "task") + " from " + iso_date(c.today) + " to " +
            iso_date(day) + ".";
  }
  call(c, out, "bulk_update", args, res);
  out.push_back(say(reply));
  return out;
}

}  // namespace llmops::curators::synth
