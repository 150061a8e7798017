// Transitional: the HTTP client moved to plugins/common/http_client.hpp (llmops::common). This
// keeps bench/bench_serve.cpp, which still includes "http_client.hpp" and names
// llmops::serve::HttpClient, building until it includes the new header; then delete this file.
#pragma once

#include "plugins/common/http_client.hpp"

namespace llmops::serve {
using common::HttpClient;
}  // namespace llmops::serve
