// llmops-tokenizer: encode and decode with a Hugging Face tokenizer.json.
//   llmops-tokenizer encode --tokenizer FILE [TEXT...]   (stdin when no TEXT) -> [ids] as JSON
//   llmops-tokenizer decode --tokenizer FILE [IDS...]    (JSON array or comma/space separated;
//                                                         stdin when none) -> text
// The CLI runs it as `llmops tokenizer ...`.
#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>

#include "lm/tokenizer.hpp"

using namespace llmops::lm;
using nlohmann::json;

namespace {
std::string read_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Encode and decode text with a Hugging Face tokenizer.json", "llmops-tokenizer"};
  app.require_subcommand(1);
  std::string path;
  std::vector<std::string> args;
  bool no_special = false, keep_special = false, as_json = false;
  auto* enc = app.add_subcommand("encode", "Text (arguments or stdin) to ids as a JSON array");
  enc->add_option("--tokenizer", path, "tokenizer.json")->required();
  enc->add_option("TEXT", args, "text (joined with spaces); stdin when absent");
  enc->add_flag("--no-special", no_special, "do not add the post-processor's special tokens");
  auto* dec = app.add_subcommand("decode", "Ids (JSON array or list) to text");
  dec->add_option("--tokenizer", path, "tokenizer.json")->required();
  dec->add_option("IDS", args, "ids; stdin when absent");
  dec->add_flag("--keep-special", keep_special, "keep special tokens in the text");
  dec->add_flag("--json", as_json, "print {\"text\": ...}");
  CLI11_PARSE(app, argc, argv);

  auto tok = Tokenizer::load(path);
  if (!tok) {
    std::cerr << "llmops-tokenizer: error: " << tok.status().message() << "\n";
    return 2;
  }
  if (*enc) {
    std::string text;
    if (args.empty()) {
      text = read_stdin();
    } else {
      for (size_t i = 0; i < args.size(); ++i) text += (i ? " " : "") + args[i];
    }
    std::cout << json(tok->encode(text, !no_special)).dump() << "\n";
    return 0;
  }
  std::string text;
  for (const auto& a : args) text += a + " ";
  if (args.empty()) text = read_stdin();
  std::vector<int64_t> ids;
  static const std::regex number(R"(-?\d+)");
  const std::string rest = std::regex_replace(text, std::regex(R"([\s,\[\]]+)"), "");
  if (!std::regex_match(rest, std::regex(R"((-?\d+)*)"))) {
    std::cerr << "llmops-tokenizer: error: ids must be integers (a JSON array or a list)\n";
    return 2;
  }
  for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it)
    ids.push_back(std::stoll(it->str()));
  const auto out = tok->decode(ids, !keep_special);
  if (as_json)
    std::cout << json({{"text", out}}).dump() << "\n";
  else
    std::cout << out << "\n";
  return 0;
}
