// Refusal detection for the task assistant: a reply is a refusal when it makes no tool call and
// contains one of a list of refusal phrases. Matching is case-insensitive, treats curly and
// straight apostrophes alike, collapses whitespace and reads "can not" as "cannot". The default
// phrases are specific ("I can't help with", "I'm sorry, but I can't", ...) so that ordinary
// replies such as "I can't find a task called X" are not counted. The same detector labels the
// expected replies of a data set and judges the generated ones, so both sides agree.
// Thread safety: const after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llmops::evaluators {

const std::vector<std::string>& default_refusal_phrases();

// Lower-case, ’ and ‘ -> ', whitespace runs -> one space, "can not" -> "cannot".
std::string normalize_for_match(std::string_view text);

class RefusalDetector {
 public:
  RefusalDetector();  // the default phrases
  explicit RefusalDetector(std::vector<std::string> phrases);

  // The phrase that matched (normalised), or "" when the text is not a refusal.
  std::string match(std::string_view text) const;
  bool is_refusal(std::string_view text) const { return !match(text).empty(); }
  const std::vector<std::string>& phrases() const { return phrases_; }

 private:
  std::vector<std::string> phrases_;  // normalised
};

}  // namespace llmops::evaluators
