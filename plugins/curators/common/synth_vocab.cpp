// Vocabulary, calendar and RNG of the synthetic generator.
#include "synth_internal.hpp"

namespace llmops::curators::synth {

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (m <= 2));
}

std::string iso_date(int64_t days) {
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

int weekday(int64_t days) {
  return static_cast<int>(((days % 7) + 7 + 3) % 7);
}  // 1970-01-01: Thu

const std::vector<std::string> kWeekdays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                            "Friday", "Saturday", "Sunday"};
const std::vector<std::string> kMonths = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

namespace {
void cross(std::vector<std::string>& out, const std::vector<std::string>& verbs,
           const std::vector<std::string>& objects) {
  for (const auto& v : verbs)
    for (const auto& o : objects) out.push_back(v + " " + o);
}

Vocab make_vocab() {
  Vocab v;
  cross(v.titles, {"Buy", "Order", "Pick up"},
        {"groceries", "printer ink", "a birthday gift for Mom", "coffee beans", "new running shoes",
         "light bulbs", "dog food", "concert tickets"});
  cross(v.titles, {"Call", "Email", "Text", "Follow up with"},
        {"the dentist", "the landlord", "the plumber", "the bank", "the insurance agent",
         "the client", "the recruiter", "Grandma"});
  cross(
      v.titles, {"Review", "Finish", "Draft", "Update", "Proofread"},
      {"the quarterly report", "the budget spreadsheet", "the onboarding doc", "the release notes",
       "the client proposal", "the project plan", "the blog post", "the slide deck"});
  cross(v.titles, {"Fix", "Investigate", "Deploy", "Test"},
        {"the login bug", "the flaky CI job", "the payment webhook", "the search index",
         "the mobile layout", "the memory leak"});
  cross(v.titles, {"Book", "Plan", "Organize", "Schedule"},
        {"the team offsite", "flights to Lisbon", "a dentist appointment", "the 1:1 with Dana",
         "the sprint retro", "a haircut", "the car service", "dinner with the Nguyens"});
  cross(v.titles, {"Pay", "Renew", "Cancel", "Submit"},
        {"the electricity bill", "the car insurance", "the gym membership", "the tax return",
         "the parking permit", "the expense report", "the streaming subscription"});
  cross(v.titles, {"Clean", "Tidy", "Water", "Repair"},
        {"the kitchen", "the garage", "the plants", "the bike", "the balcony", "the home office"});
  cross(v.new_titles, {"Prep", "Demo", "Groom", "Triage", "Sync on"},
        {"the sprint backlog", "the OKR update", "the incident queue", "the standup notes",
         "the kanban board", "the roadmap", "the on-call handover"});
  v.teammates = {"Priya",  "Marcus", "José", "Zoë",  "Aiko",  "Liam",
                 "Fatima", "Chen",   "Olga", "Dana", "Tomás", "Nia"};
  v.labels = {"work", "personal", "errands", "finance", "health",
              "q3",   "design",   "backend", "family",  "travel"};
  v.priorities = {"low", "medium", "high", "urgent"};
  v.queries = {"report",    "dentist", "landlord",   "Lisbon", "budget", "insurance", "bug",
               "groceries", "gym",     "slide deck", "client", "plants", "tax",       "offsite",
               "backlog",   "roadmap", "Grandma",    "bike",   "invoice"};
  return v;
}
}  // namespace

const Vocab& vocab() {
  static const Vocab v = make_vocab();
  return v;
}

std::string Context::new_task_id() {
  return "task_" + std::to_string(1000 + rng.below(9000));
}

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z' && !(s.size() > 1 && s[1] >= 'A' && s[1] <= 'Z'))
    s[0] = static_cast<char>(s[0] + 32);
  return s;
}

bool add_typo(Rng& rng, std::string& text) {
  // Candidate words: 4+ ASCII letters, outside double quotes.
  std::vector<std::pair<size_t, size_t>> cand;
  bool quoted = false;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '"') {
      quoted = !quoted;
      ++i;
      continue;
    }
    auto letter = [&](size_t k) {
      return (text[k] >= 'a' && text[k] <= 'z') || (text[k] >= 'A' && text[k] <= 'Z');
    };
    if (!letter(i)) {
      ++i;
      continue;
    }
    size_t b = i;
    while (i < text.size() && letter(i)) ++i;
    bool boundary = (b == 0 || text[b - 1] == ' ') && (i == text.size() || text[i] != '_');
    if (!quoted && boundary && i - b >= 4) cand.emplace_back(b, i - b);
  }
  if (cand.empty()) return false;
  auto [b, len] = cand[rng.below(cand.size())];
  size_t k = b + 1 + rng.below(len - 2);
  if (text[k] == text[k + 1]) return false;
  std::swap(text[k], text[k + 1]);
  return true;
}

std::string system_prompt(const Context& c, bool production) {
  std::string s = "You are TaskPal, the assistant of the Tasks API. Today is " +
                  kWeekdays[weekday(c.today)] + ", " + iso_date(c.today) +
                  ". Help the user manage their own tasks with the functions provided. "
                  "Never delete or reveal other users' tasks or personal data.";
  if (production) s += " You can also create recurring tasks, subtasks and bulk updates.";
  return s;
}

std::vector<Message> off_topic_exchange(Context& c) {
  static const std::vector<std::pair<std::string, std::string>> kChat = {
      {"did you watch the {x} game last night?",
       "Oh yes, what a match! That last-minute goal was unbelievable."},
      {"what's your favourite {x} recipe?",
       "I love a slow-cooked {x} stew with lots of garlic and fresh herbs."},
      {"lol my cat just knocked the {x} off the shelf again",
       "Haha, cats are like that. Mine once knocked over a whole {x}!"},
      {"honestly {x} is the most overrated movie ever", "Ha, I actually think {x} holds up well."},
      {"any plans for the weekend? thinking about {x}",
       "A weekend of {x} sounds lovely, enjoy it!"},
      {"is it going to rain in {x} today?", "Probably, it always seems to rain in {x}."},
  };
  static const std::vector<std::string> kFill = {
      "Arsenal", "pumpkin", "Barcelona", "lentil",   "chicken",  "Inception", "hiking",
      "Berlin",  "Titanic", "camping",   "Dublin",   "mushroom", "vase",      "Seattle",
      "surfing", "Avatar",  "Liverpool", "tofu",     "Madrid",   "risotto",   "Casablanca",
      "skiing",  "Oslo",    "lamp",      "Celtic",   "curry",    "Jaws",      "sailing",
      "Toronto", "mango",   "Alien",     "kayaking", "Napoli",   "ramen",     "Vertigo",
      "fishing", "Lagos",   "teapot",    "Heat",     "cycling"};
  static const std::vector<std::string> kOpen = {
      "hey", "so",  "ok",          "random question",      "btw",           "honestly",
      "lol", "hmm", "quick thing", "not work related but", "you know what", "oh and"};
  const auto& [u, a] = kChat[c.rng.below(kChat.size())];
  const auto& x = c.rng.pick(kFill);
  const auto open = c.rng.pick(kOpen) + ", ";
  auto fill = [&](std::string s) {
    for (size_t p; (p = s.find("{x}")) != std::string::npos;) s.replace(p, 3, x);
    return s;
  };
  return {Message{"user", open + fill(u)}, Message{"assistant", fill(a)}};
}

}  // namespace llmops::curators::synth
