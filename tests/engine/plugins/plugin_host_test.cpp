// The plugin host reads what a plugin says about itself: whether its steps may be served from the
// cache, from a current build and from one against the ABI 1.0 SDK, directly, through the
// scanner process and through the descriptor cache.
#include <catch2/catch.hpp>

#include "engine/plugins/plugin_host.hpp"
#include "llmops/plugin.hpp"
#include "tests/common/temp_dir.hpp"

namespace fs = std::filesystem;
using llmops::engine::PluginHost;
using llmops::engine::PluginInfo;

namespace {

fs::path built_plugin(const std::string& name) {
  return fs::path(LLMOPS_PLUGIN_BUILD_DIR) / ("llmops-plugin-" + name + ".so");
}
fs::path test_plugin(const std::string& name) {
  return fs::path(LLMOPS_BINARY_DIR) / "test-plugins" / ("llmops-plugin-" + name + ".so");
}

}  // namespace

// Deployers act on the world and monitors observe one that changes; nothing else is special.
static_assert(!llmops::default_cacheable("deployer"));
static_assert(!llmops::default_cacheable("monitor"));
static_assert(llmops::default_cacheable("curator"));
static_assert(llmops::default_cacheable("monitors"));

TEST_CASE("the descriptor says whether a plugin's steps may be served from the cache",
          "[plugins]") {
  auto noop = PluginHost::read_descriptor(built_plugin("noop"));
  REQUIRE(noop.is_ok());
  CHECK(noop->abi_minor == LLMOPS_ABI_MINOR);
  CHECK(noop->cacheable);
  // A testing plugin, so only its descriptor can make it uncacheable.
  auto uncacheable = PluginHost::read_descriptor(test_plugin("uncacheable"));
  REQUIRE(uncacheable.is_ok());
  CHECK(uncacheable->broken.empty());
  CHECK(uncacheable->kind == "testing");
  CHECK(!uncacheable->cacheable);
}

TEST_CASE("a plugin built for ABI 1.0 still loads and runs, with its kind's defaults",
          "[plugins][abi]") {
  auto old = PluginHost::read_descriptor(test_plugin("old-abi"));
  REQUIRE(old.is_ok());
  INFO(old->broken);
  CHECK(old->broken.empty());
  CHECK(old->id == "monitor/old-abi");
  CHECK(old->abi_major == 1);
  CHECK(old->abi_minor == 0);
  CHECK(old->outputs.size() == 1);
  // Its library holds a set word where a 1.1 descriptor keeps `cacheable`: read, it would say yes.
  CHECK(!old->cacheable);
  PluginHost host;
  auto plugin = host.create(old.value());
  REQUIRE(plugin.is_ok());
  CHECK(plugin.value() != nullptr);
}

TEST_CASE("cacheable goes through the scanner process and the descriptor cache", "[plugins]") {
  llmops::testing::TempDir tmp("plugin-host");
  llmops::engine::ScanOptions options;
  options.scanner = fs::path(LLMOPS_BINARY_DIR) / "cli" / "llmops";
  options.cache_file = tmp.path / "descriptors.json";
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reads the cache
    INFO("pass " << pass);
    auto host = PluginHost::scan({fs::path(LLMOPS_BINARY_DIR) / "test-plugins"}, options);
    const PluginInfo* uncacheable = host->find("testing/uncacheable", "");
    const PluginInfo* old = host->find("monitor/old-abi", "");
    REQUIRE(uncacheable);
    REQUIRE(old);
    CHECK(!uncacheable->cacheable);
    CHECK(!old->cacheable);
    CHECK(fs::exists(options.cache_file));
  }
}

TEST_CASE("a descriptor recorded without cacheable gets its kind's default", "[plugins]") {
  PluginInfo info;
  info.id = "testing/x";
  info.kind = "testing";
  info.cacheable = false;
  auto j = llmops::engine::plugin_info_to_json(info);
  CHECK(!llmops::engine::plugin_info_from_json(j).cacheable);
  j.erase("cacheable");
  CHECK(llmops::engine::plugin_info_from_json(j).cacheable);
  j["kind"] = "deployer";
  CHECK(!llmops::engine::plugin_info_from_json(j).cacheable);
}
