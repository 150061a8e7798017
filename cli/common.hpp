// Shared helpers of the `llmops` command: the store home, plugin discovery, output styling.
// Exit codes: 0 success, 1 the run failed, 2 invalid input (pipeline, arguments).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/plugins/plugin_host.hpp"
#include "store/store.hpp"

namespace llmops::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitInvalid = 2;

// $LLMOPS_HOME, else ./.llmops
std::filesystem::path home_dir();
// Opens the store or prints why not (returns nullptr).
std::unique_ptr<store::Store> open_store();
std::shared_ptr<engine::PluginHost> scan_plugins();

// Colour only on a terminal and without NO_COLOR.
bool use_colour();
std::string paint(const std::string& text, const char* ansi);
std::string state_colour(store::State state);  // a state's word, painted by its meaning
std::string format_time(double unix_seconds);  // "2026-11-28 16:04:29" local, "-" when 0
std::string format_duration(double seconds);   // "850ms", "12.3s", "4m05s"
void print_json(const nlohmann::json& j);
int fail(const std::string& message, int code = kExitInvalid);  // prints "error: ..." to stderr

}  // namespace llmops::cli
