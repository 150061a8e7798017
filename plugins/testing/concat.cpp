// testing/concat: concatenates every input (files, or the files of a folder in name order), in
// input-name order, into output `out`/out.txt.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"

namespace fs = std::filesystem;

namespace {
llmops::Status append(const fs::path& p, std::ofstream& out) {
  std::vector<fs::path> files;
  if (fs::is_directory(p)) {
    for (const auto& e : fs::recursive_directory_iterator(p))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(p);
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return llmops::Status::not_found("cannot read input " + f.string());
    out << in.rdbuf();
  }
  return llmops::Status::ok();
}

class Concat : public llmops::Plugin {
 public:
  llmops::Status run(llmops::StepContext& ctx) override {
    auto inputs = ctx.inputs();
    std::sort(inputs.begin(), inputs.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    const auto sep = ctx.param_string("separator", "");
    std::ofstream out(ctx.output("out", llmops::artifact_kind::kFile) / "out.txt",
                      std::ios::binary);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i) out << sep;
      if (auto s = append(inputs[i].path, out); !s) return s;
    }
    ctx.metric("inputs", static_cast<double>(inputs.size()));
    return out ? llmops::Status::ok() : llmops::Status::internal("write failed");
  }
};
}  // namespace

constexpr char kParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{
                  "separator":{"type":"string","default":""}}})";

LLMOPS_PLUGIN(Concat, "testing", "concat", "1.0.0", "Concatenates its inputs into one file",
              kParamsSchema, "[]", R"([{"name":"out","kind":"file"}])", "inprocess",
              llmops::kCacheable)
