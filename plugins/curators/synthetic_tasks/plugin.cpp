// curator/synthetic-tasks: writes a deterministic, seeded data set of OpenAI-chat conversations
// for the task-management assistant, with dirt injected in known amounts (see common/synth.hpp).
// Output `dataset`: data.jsonl, manifest.json (what was injected, expected curator rejections) and
// tools.json (the function definitions the assistant calls).
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmops/artifacts.hpp"
#include "llmops/plugin.hpp"
#include "synth.hpp"

namespace {

using llmops::Status;

class SyntheticTasks : public llmops::Plugin {
 public:
  Status run(llmops::StepContext& ctx) override {
    try {
      return run_impl(ctx);
    } catch (const std::exception& e) {
      return Status::internal(std::string("synthetic-tasks: ") + e.what());
    }
  }

 private:
  Status run_impl(llmops::StepContext& ctx) {
    llmops::curators::SynthOptions o;
    o.seed = static_cast<uint64_t>(ctx.param_int("seed", 42));
    o.count = ctx.param_int("count", o.count);
    o.scenario = ctx.param_string("scenario", o.scenario);
    o.reference_date = ctx.param_string("reference_date", o.reference_date);
    o.system_prompt = ctx.param_bool("system_prompt", o.system_prompt);
    o.multi_turn_rate = ctx.param_double("multi_turn_rate", o.multi_turn_rate);
    o.typo_rate = ctx.param_double("typo_rate", o.typo_rate);
    o.new_intent_rate = ctx.param_double("new_intent_rate", o.new_intent_rate);
    o.ensure_unique = ctx.param_bool("ensure_unique", o.ensure_unique);
    const std::string dirt_json = ctx.param_json("dirt");
    auto dirt = nlohmann::json::parse(dirt_json, nullptr, false);
    if (!dirt.is_discarded() && dirt.is_object()) {
      auto rate = [&](const char* k, double& v) {
        if (auto it = dirt.find(k); it != dirt.end() && it->is_number()) v = it->get<double>();
      };
      rate("exact_duplicate", o.exact_duplicate_rate);
      rate("near_duplicate", o.near_duplicate_rate);
      rate("pii", o.pii_rate);
      rate("malformed_json", o.malformed_json_rate);
      rate("invalid_utf8", o.invalid_utf8_rate);
      rate("empty_turn", o.empty_turn_rate);
      rate("wrong_order", o.wrong_order_rate);
      rate("overlong", o.overlong_rate);
      rate("off_topic", o.off_topic_rate);
    } else if (dirt_json != "null") {
      return Status::invalid("dirt must be a map of rates");
    }
    const auto dir = ctx.output("dataset", llmops::artifact_kind::kDataset);
    std::ofstream data(dir / "data.jsonl", std::ios::binary);
    auto res = llmops::curators::generate_synthetic(o, data);
    if (!res) return res.status();
    data.close();
    std::ofstream(dir / "manifest.json") << res->manifest_json << '\n';
    std::ofstream(dir / "tools.json") << llmops::curators::synthetic_tools_json(o.scenario) << '\n';
    const auto m = nlohmann::json::parse(res->manifest_json);
    ctx.metric("lines", static_cast<double>(res->lines));
    ctx.metric("bytes", static_cast<double>(res->bytes));
    for (const auto& [k, v] : m["dirt"].items()) ctx.metric("dirt." + k, v.get<double>());
    for (const auto& [k, v] : m["pii"].items()) ctx.metric("pii." + k, v.get<double>());
    nlohmann::json meta = {{"format", "openai-chat"},
                           {"lines", res->lines},
                           {"scenario", o.scenario},
                           {"seed", o.seed},
                           {"expected_kept", m["expected_kept"]}};
    ctx.set_output_metadata("dataset", meta.dump());
    ctx.info("wrote " + std::to_string(res->lines) + " conversations (" + o.scenario + ", seed " +
             std::to_string(o.seed) + ")");
    return Status::ok();
  }
};

constexpr char kParamsSchema[] = R"J({"type":"object","additionalProperties":false,"properties":{
 "seed":{"type":"integer","default":42,"description":"RNG seed; the same options give the same bytes"},
 "count":{"type":"integer","minimum":0,"default":1000,"description":"Lines to write, dirt included"},
 "scenario":{"type":"string","enum":["base","production-shift"],"default":"base","description":"base: the ten task functions and refusals; production-shift: new vocabulary plus new intents (recurring tasks, subtasks, bulk updates) as reviewed corrections"},
 "reference_date":{"type":"string","default":"2024-06-03","description":"'Today' in the conversations (YYYY-MM-DD); relative dates resolve against it"},
 "system_prompt":{"type":"boolean","default":true,"description":"Start each conversation with the assistant's system prompt"},
 "multi_turn_rate":{"type":"number","minimum":0,"maximum":1,"default":0.15,"description":"Share of conversations with two exchanges"},
 "typo_rate":{"type":"number","minimum":0,"maximum":1,"default":0.05,"description":"Share of user turns with a swapped-letter typo"},
 "new_intent_rate":{"type":"number","minimum":0,"maximum":1,"default":0.4,"description":"production-shift: share of exchanges using the new intents"},
 "ensure_unique":{"type":"boolean","default":true,"description":"Keep clean conversations free of exact and near duplicates so every duplicate is an injected one"},
 "dirt":{"type":"object","description":"Dirt rates, each a share of count: exact_duplicate (0.03), near_duplicate (0.03), pii (0.05), malformed_json (0.01), invalid_utf8 (0.01), empty_turn (0.01), wrong_order (0.01), overlong (0.005), off_topic (0.02)",
   "additionalProperties":false,"properties":{
   "exact_duplicate":{"type":"number","minimum":0,"maximum":1},"near_duplicate":{"type":"number","minimum":0,"maximum":1},
   "pii":{"type":"number","minimum":0,"maximum":1},"malformed_json":{"type":"number","minimum":0,"maximum":1},
   "invalid_utf8":{"type":"number","minimum":0,"maximum":1},"empty_turn":{"type":"number","minimum":0,"maximum":1},
   "wrong_order":{"type":"number","minimum":0,"maximum":1},"overlong":{"type":"number","minimum":0,"maximum":1},
   "off_topic":{"type":"number","minimum":0,"maximum":1}}}}})J";

}  // namespace

LLMOPS_PLUGIN(SyntheticTasks, "curator", "synthetic-tasks", "1.0.0",
              "Generates seeded task-assistant chat conversations with known dirt", kParamsSchema,
              "[]", R"([{"name":"dataset","kind":"dataset"}])", "inprocess", llmops::kCacheable)
