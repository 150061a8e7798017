// The engine's side of the step protocol (docs/step-protocol.md): runs an executable plugin's
// program for one step and turns what it reports into StepContext calls, so an executable plugin
// is a Plugin like a .so one (isolated, cached, with metrics, logs and sealed outputs).
//
// The program gets a request file ($LLMOPS_STEP_REQUEST), an events channel (JSON lines on
// fd 3), output folders to fill and a result path ($LLMOPS_STEP_RESULT). Everything it could do
// wrong is bounded: no hello within hello_timeout, event lines over 1 MiB, floods, a program that
// never exits (cancellation: SIGTERM to its process group, SIGKILL after the grace), children
// left behind (the group is killed when it exits), exit 0 without a result (a failure: never
// success by default).
// Thread safety: one run per object at a time.
#pragma once

#include <memory>

#include "engine/plugins/exec_manifest.hpp"
#include "llmops/plugin.hpp"

namespace llmops::engine {

std::shared_ptr<Plugin> make_exec_plugin(ExecManifest manifest);

// Where the protocol helpers (llmops_step.py, llmops-step.sh) are: $LLMOPS_PYTHON_DIR, else
// beside the running executable (build tree: <exe>/../python; installed:
// <exe>/../share/llmops/python); empty when not found.
std::filesystem::path step_helpers_dir();

}  // namespace llmops::engine
