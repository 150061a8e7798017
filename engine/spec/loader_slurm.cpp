// Pipeline loading: the `slurm:` mapping of `defaults:` and of a step (engine/spec/slurm_spec.hpp).
#include "engine/spec/loader_impl.hpp"
#include "engine/spec/slurm_spec.hpp"

namespace llmops::engine::detail {

using nlohmann::json;

std::optional<json> Loader::get_slurm(const Entry& e, const std::string& where) {
  const std::string what = "'slurm' of " + where;
  json out = json::object();
  bool ok = true;
  for (const auto& item : entries(e.value, e.value_pos, what, slurm_keys())) {
    if (item.key == "time") {
      auto t = get_duration(item, what);
      if (t && *t < 1) {
        error(item.value_pos, "'time' in " + what + " must be at least 1s");
        t.reset();
      }
      if (t) out["time"] = *t;
      ok = ok && t;
    } else if (item.key == "nodes" || item.key == "ntasks_per_node") {
      auto v = get_int(item, what);
      if (v && *v < 1) {
        error(item.value_pos, "'" + item.key + "' in " + what + " must be 1 or more");
        v.reset();
      }
      if (v) out[item.key] = *v;
      ok = ok && v;
    } else if (item.key == "extra_args") {
      if (!item.value.IsSequence()) {
        error(item.value_pos, "'extra_args' in " + what +
                                  " must be a list of options, e.g. [--exclusive], got " +
                                  yaml_type_name(item.value));
        ok = false;
        continue;
      }
      json args = json::array();
      for (const auto& a : item.value) {
        if (!a.IsScalar() || a.IsNull()) {
          error(pos_of(a),
                "each of 'extra_args' in " + what + " must be a string, got " + yaml_type_name(a));
          ok = false;
          continue;
        }
        if (auto problem = slurm_extra_arg_problem(a.Scalar()); !problem.empty()) {
          error(pos_of(a), "in 'extra_args' of " + what + ": " + problem);
          ok = false;
          continue;
        }
        args.push_back(a.Scalar());
      }
      out["extra_args"] = args;
    } else {
      auto v = get_string(item, what);
      if (v && v->empty()) {
        error(item.value_pos, "'" + item.key + "' in " + what + " is empty: remove it or name one");
        v.reset();
      }
      if (v) out[item.key] = *v;
      ok = ok && v;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace llmops::engine::detail
