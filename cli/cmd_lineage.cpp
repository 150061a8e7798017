// `llmops lineage REF`: the provenance graph of artifacts, as text, JSON or Graphviz dot.
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.hpp"
#include "ui/views.hpp"

namespace llmops::cli {

int cmd_lineage(const LineageArgs& a) {
  if (a.upstream && a.downstream) return fail("choose one of --upstream and --downstream");
  auto st = open_store();
  if (!st) return kExitFailed;
  auto starts = views::resolve_lineage_ref(*st, a.ref);
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
