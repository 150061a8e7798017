// `llmops plugins new KIND/NAME --lang python|cpp`: a plugin folder to start from, with a test.
// Python: an executable plugin (llmops-plugin.yaml, main.py on the step-protocol helper, a
// unittest that runs `llmops plugins check`). C++: the SDK's plugin template
// (examples/plugin-template, installed under share/llmops) with the names replaced.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <regex>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace fs = std::filesystem;

namespace llmops::cli {
namespace {

constexpr char kManifest[] =
    R"(# @ID@: an executable plugin (step protocol 1, docs/step-protocol.md).
protocol: 1
name: @ID@
version: 0.1.0
description: Copies the first max_lines lines of its input (replace with what yours does)
run: [python3, main.py]
params:
  type: object
  additionalProperties: false
  properties:
    max_lines: {type: integer, minimum: 0, default: 1000, description: Lines to copy}
inputs:
  data: {kind: dataset}
outputs:
  out: {kind: dataset}
cacheable: true
grace: 3s
)";

constexpr char kMain[] = R"(#!/usr/bin/env python3
"""@ID@ (see llmops-plugin.yaml). llmops puts llmops_step (the protocol helper) on PYTHONPATH."""
import llmops_step


def main(step):
    limit = step.param("max_lines")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise llmops_step.StepError("max_lines must be a non-negative integer, got %r" % (limit,),
                                    "invalid_input")
    data = step.input("data")
    files = [data.path] if data.path.is_file() else sorted(p for p in data.path.rglob("*") if p.is_file())
    n = 0
    with open(step.output("out") / "data.jsonl", "w", encoding="utf-8") as out:
        for f in files:
            for line in open(f, encoding="utf-8", errors="replace"):
                if n >= limit:
                    break
                out.write(line)
                n += 1
    step.metric("lines", n)
    step.log("copied %d lines" % n)
    return {"out": {"lines": n}}


llmops_step.run(main)
)";

constexpr char kTest[] = R"(#!/usr/bin/env python3
"""Conformance test of @ID@: `python3 -m unittest` in this folder (needs llmops on PATH or in
$LLMOPS)."""
import os
import pathlib
import shutil
import subprocess
import unittest

HERE = pathlib.Path(__file__).resolve().parent


class ConformanceTest(unittest.TestCase):
    def test_plugins_check(self):
        llmops = os.environ.get("LLMOPS") or shutil.which("llmops")
        self.assertTrue(llmops, "llmops is not on PATH; set LLMOPS to its path")
        r = subprocess.run([llmops, "plugins", "check", str(HERE)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
)";

constexpr char kReadme[] = R"(# @ID@

An llmops executable plugin (step protocol 1). Try it:

    llmops plugins check .                      # the conformance run
    python3 -m unittest                         # the same, as a test
    LLMOPS_PLUGIN_PATH=$PWD/.. llmops plugins describe @ID@

Use it in a pipeline with `uses: @ID@` once its parent folder is on LLMOPS_PLUGIN_PATH.
See docs/step-protocol.md and docs/plugin-authors.md.
)";

Status write(const fs::path& p, std::string text, const std::string& id, bool exec = false) {
  text = std::regex_replace(text, std::regex("@ID@"), id);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::internal("cannot write " + p.string());
  if (exec)
    fs::permissions(p, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
  return Status::ok();
}

fs::path template_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& d : {exe / ".." / "share" / "llmops" / "plugin-template",
                        exe / ".." / ".." / "examples" / "plugin-template"})
    if (fs::exists(d / "CMakeLists.txt", ec)) return fs::weakly_canonical(d, ec);
  return {};
}

}  // namespace

int cmd_plugins_new(const PluginNewArgs& a) {
  static const std::regex id_re("([a-z][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)");
  std::smatch mt;
  if (!std::regex_match(a.name, mt, id_re))
    return fail("the name must be KIND/NAME in lower case, e.g. curator/my-filter");
  const std::string kind = mt[1], name = mt[2];
  const fs::path dir = a.dir.empty() ? fs::path(name) : fs::path(a.dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
    return fail(dir.string() + " exists and is not empty: pick another --dir");
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  if (a.lang == "python") {
    for (auto [file, text, exec] :
         {std::tuple{"llmops-plugin.yaml", kManifest, false}, std::tuple{"main.py", kMain, true},
          std::tuple{"test_plugin.py", kTest, false}, std::tuple{"README.md", kReadme, false}})
      if (auto s = write(dir / file, text, a.name, exec); !s) return fail(s.message(), kExitFailed);
  } else {
    const auto tpl = template_dir();
    if (tpl.empty())
      return fail(
          "cannot find the C++ plugin template (share/llmops/plugin-template beside "
          "llmops); reinstall llmops",
          kExitFailed);
    const std::string under = std::regex_replace(name, std::regex("-"), "_");
    for (auto it = fs::recursive_directory_iterator(tpl, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const auto rel = fs::relative(it->path(), tpl, ec).string();
      if (rel.rfind("build", 0) == 0) {
        it.disable_recursion_pending();
        continue;
      }
      const auto target =
          dir / std::regex_replace(std::regex_replace(rel, std::regex("word_count"), under),
                                   std::regex("word-count"), name);
      if (it->is_directory()) {
        fs::create_directories(target, ec);
        continue;
      }
      std::ifstream in(it->path(), std::ios::binary);
      std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      text = std::regex_replace(text, std::regex("curator/word-count"), a.name);
      text = std::regex_replace(text, std::regex("\"curator\", \"word-count\""),
                                "\"" + kind + "\", \"" + name + "\"");
      text = std::regex_replace(text, std::regex("word-count"), name);
      text = std::regex_replace(text, std::regex("word_count"), under);
      fs::create_directories(target.parent_path(), ec);
      std::ofstream out(target, std::ios::binary);
      out << text;
    }
  }
  std::cout << "created " << dir.string() << " (" << a.name << ", "
            << (a.lang == "python" ? "executable plugin in Python" : "C++ plugin library")
            << ")\nnext: "
            << (a.lang == "python" ? "llmops plugins check " + dir.string()
                                   : "see " + (dir / "README.md").string())
            << "\n";
  return kExitOk;
}

}  // namespace llmops::cli
