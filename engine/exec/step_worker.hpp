// The step worker protocol, shared by the two sides of the subprocess executor.
//
// The engine (engine/exec/subprocess_executor.hpp) writes the request as JSON to
// <work_dir>/request.json and starts a worker (`llmops exec-step`, or a child of the fork server)
// with a pipe on fd 3. The worker (exec_step_main) runs the plugin and writes one JSON object per
// line to that pipe: {"type":"progress",...}, {"type":"log","level":..,"message":..}, and last
// {"type":"result","ok":..,"error":..,"outputs":[..],"metrics":[..],"triggers":[..]}.
// Stateless functions; thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/exec/executor.hpp"

namespace llmops::engine {

// The worker side: reads the request file, runs the plugin, reports on `protocol_fd`.
// Returns the process exit code.
int exec_step_main(const std::filesystem::path& request_file, int protocol_fd);

// StepRequest <-> JSON (the request file).
nlohmann::json request_to_json(const StepRequest& r);
StepRequest request_from_json(const nlohmann::json& j);

// One protocol line (JSON + newline), written whole even across short writes.
void write_protocol_line(int fd, const nlohmann::json& j);
// The engine side: one protocol line into `result` (progress and log go to the request's
// callbacks; "result" fills `result` and sets *got_result).
void apply_protocol_line(const nlohmann::json& j, const StepRequest& request, StepResult& result,
                         bool* got_result);
// Log levels as the protocol names them ("debug", "info", "warn", "error").
LogLevel protocol_level(const std::string& name);
const char* protocol_level_name(LogLevel level);

}  // namespace llmops::engine
