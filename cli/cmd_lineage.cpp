// `llmops lineage REF`: the provenance graph of artifacts, as text, JSON or Graphviz dot.
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.hpp"

namespace llmops::cli {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// REF -> start digests: an artifact digest prefix, a run id, or RUN:STEP.
Result<std::vector<std::string>> resolve(store::Store& st, const std::string& ref) {
  std::vector<std::string> out;
  const auto colon = ref.find(':');
  const bool run_step = colon != std::string::npos && all_digits(ref.substr(0, colon));
  if (run_step || all_digits(ref)) {
    const int64_t run = std::stoll(run_step ? ref.substr(0, colon) : ref);
    const std::string step = run_step ? ref.substr(colon + 1) : "";
    auto execs = st.list_executions(run);
    if (!execs) return execs.status();
    if (execs->empty())
      return Status::not_found("run " + std::to_string(run) + " has no executions");
    std::map<std::string, int64_t> last_good;  // step -> execution
    for (const auto& e : execs.value())
      if (is_success(e.state) && (step.empty() || e.step == step)) last_good[e.step] = e.id;
    if (last_good.empty())
      return Status::not_found(step.empty() ? "run " + std::to_string(run) + " produced nothing"
                                            : "step '" + step + "' of run " + std::to_string(run) +
                                                  " has no finished execution");
    for (const auto& [_, id] : last_good)
      if (auto evs = st.execution_events(id, true))
        for (const auto& ev : evs.value()) out.push_back(ev.artifact.digest);
    if (out.empty()) return Status::not_found("no artifacts for " + ref);
    return out;
  }
  auto found = st.find_artifacts(ref);
  if (!found) return found.status();
  if (found->empty())
    return Status::not_found("no artifact matches '" + ref + "' (see: llmops artifacts)");
  if (found->size() > 1) {
    std::string msg = "'" + ref + "' matches " + std::to_string(found->size()) + " artifacts:";
    for (const auto& a : found.value()) msg += " " + a.digest.substr(0, 19);
    return Status::invalid(msg + "; give more of the digest");
  }
  out.push_back(found->front().digest);
  return out;
}

}  // namespace

int cmd_lineage(const LineageArgs& a) {
  if (a.upstream && a.downstream) return fail("choose one of --upstream and --downstream");
  auto st = open_store();
  if (!st) return kExitFailed;
  auto starts = resolve(*st, a.ref);
  if (!starts) return fail(starts.status().message());
  const bool up = !a.downstream;
  auto g = st->lineage(starts.value(), up, a.depth);
  if (!g) return fail(g.status().message(), kExitFailed);
  const auto& graph = g.value();

  if (a.format == "json") {
    nlohmann::json j = {{"ref", a.ref},
                        {"direction", up ? "upstream" : "downstream"},
                        {"nodes", nlohmann::json::array()},
                        {"edges", nlohmann::json::array()}};
    for (const auto& n : graph.nodes)
      j["nodes"].push_back(
          {{"type", n.type}, {"id", n.id}, {"label", n.label}, {"depth", n.depth}});
    for (const auto& e : graph.edges)
      j["edges"].push_back({{"from", e.from}, {"to", e.to}, {"role", e.role}});
    print_json(j);
    return kExitOk;
  }
  std::map<std::string, const store::LineageNode*> nodes;
  for (const auto& n : graph.nodes) nodes[n.id] = &n;
  if (a.format == "dot") {
    std::cout << "digraph lineage {\n  rankdir=LR;\n";
    for (const auto& n : graph.nodes) {
      const bool art = n.type == "artifact";
      std::cout << "  \"" << n.id << "\" [shape=" << (art ? "note" : "box") << ", label=\""
                << n.label << (art ? "\\n" + n.id.substr(0, 19) : "") << "\"];\n";
    }
    for (const auto& e : graph.edges)
      std::cout << "  \"" << e.from << "\" -> \"" << e.to << "\" [label=\"" << e.role << "\"];\n";
    std::cout << "}\n";
    return kExitOk;
  }
  // Text: a tree from each start artifact, following edges in the walk's direction.
  std::multimap<std::string, std::pair<std::string, std::string>> next;  // node -> (node, role)
  for (const auto& e : graph.edges) {
    if (up)
      next.emplace(e.to, std::make_pair(e.from, e.role));
    else
      next.emplace(e.from, std::make_pair(e.to, e.role));
  }
  std::set<std::string> printed;
  std::function<void(const std::string&, int, const std::string&)> walk =
      [&](const std::string& id, int indent, const std::string& role) {
        auto it = nodes.find(id);
        const std::string label = it != nodes.end() ? it->second->label : id;
        const bool art = it != nodes.end() && it->second->type == "artifact";
        std::cout << std::string(indent * 2, ' ') << (indent ? (up ? "<- " : "-> ") : "");
        if (!role.empty() && art) std::cout << role << ": ";
        if (art)
          std::cout << paint(id.substr(0, 19), "36") << " " << label;
        else
          std::cout << paint(label, "1");
        if (printed.count(id) && next.count(id)) {
          std::cout << paint("  (see above)", "90") << "\n";
          return;
        }
        std::cout << "\n";
        printed.insert(id);
        auto [b, e] = next.equal_range(id);
        for (auto i = b; i != e; ++i) walk(i->second.first, indent + 1, i->second.second);
      };
  for (const auto& s : starts.value()) walk(s, 0, "");
  return kExitOk;
}

}  // namespace llmops::cli
