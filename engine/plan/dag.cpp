// Dag over Boost.Graph (see engine/plan/dag.hpp).
#include "engine/plan/dag.hpp"

#include <algorithm>
#include <functional>
#include <queue>

#include <boost/graph/depth_first_search.hpp>

namespace llmops::engine {
namespace {

// Records the tree of the search and the first back edge: together they spell a cycle.
struct CycleVisitor : boost::default_dfs_visitor {
  std::vector<int>* parent;
  std::optional<std::pair<int, int>>* back;
  CycleVisitor(std::vector<int>* p, std::optional<std::pair<int, int>>* b) : parent(p), back(b) {}
  void tree_edge(Dag::Graph::edge_descriptor e, const Dag::Graph& g) const {
    (*parent)[boost::target(e, g)] = static_cast<int>(boost::source(e, g));
  }
  void back_edge(Dag::Graph::edge_descriptor e, const Dag::Graph& g) const {
    if (!*back) *back = std::make_pair<int, int>(boost::source(e, g), boost::target(e, g));
  }
};

}  // namespace

Dag Dag::build(const PipelineSpec& spec) {
  Dag dag;
  for (const auto& step : spec.steps) {
    if (dag.index_.count(step.name)) continue;  // duplicate names are a loader error
    dag.index_[step.name] = static_cast<int>(dag.names_.size());
    dag.names_.push_back(step.name);
  }
  dag.graph_ = Graph(dag.names_.size());
  for (const auto& step : spec.steps) {
    int to = dag.index(step.name);
    for (const auto& need : step.needs) {
      int from = dag.index(need);
      if (from >= 0) dag.add_edge(from, to);
    }
  }
  return dag;
}

Dag Dag::from_edges(const std::vector<std::string>& names,
                    const std::vector<std::pair<std::string, std::string>>& edges) {
  Dag dag;
  for (const auto& name : names) {
    if (dag.index_.count(name)) continue;
    dag.index_[name] = static_cast<int>(dag.names_.size());
    dag.names_.push_back(name);
  }
  dag.graph_ = Graph(dag.names_.size());
  for (const auto& [from, to] : edges) {
    int u = dag.index(from), v = dag.index(to);
    if (u >= 0 && v >= 0) dag.add_edge(u, v);
  }
  return dag;
}

void Dag::add_edge(int from, int to) {
  if (!boost::edge(from, to, graph_).second) boost::add_edge(from, to, graph_);
}

int Dag::index(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

std::optional<std::vector<std::string>> Dag::find_cycle() const {
  if (names_.empty()) return std::nullopt;
  std::vector<int> parent(names_.size(), -1);
  std::optional<std::pair<int, int>> back;
  std::vector<boost::default_color_type> colors(names_.size());
  // Boost's search is iterative (no recursion depth limit) and visits vertices in index order.
  boost::depth_first_search(
      graph_, CycleVisitor(&parent, &back),
      boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, graph_)));
  if (!back) return std::nullopt;
  auto [u, v] = *back;  // edge u -> v where v is an ancestor of u in the search tree
  std::vector<std::string> cycle{names_[u]};
  for (int x = u; x != v;) {
    x = parent[x];
    cycle.push_back(names_[x]);
  }
  std::reverse(cycle.begin(), cycle.end());
  cycle.push_back(names_[v]);
  return cycle;
}

std::vector<int> Dag::topo_order_indices() const {
  // Kahn's algorithm with a min-heap so that ready steps come out in file order; Boost's
  // topological_sort gives a valid but not a stable order.
  std::vector<int> indegree(names_.size());
  for (size_t v = 0; v < names_.size(); ++v) indegree[v] = boost::in_degree(v, graph_);
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (size_t v = 0; v < names_.size(); ++v) {
    if (indegree[v] == 0) ready.push(static_cast<int>(v));
  }
  std::vector<int> order;
  order.reserve(names_.size());
  while (!ready.empty()) {
    int u = ready.top();
    ready.pop();
    order.push_back(u);
    for (auto [it, end] = boost::out_edges(u, graph_); it != end; ++it) {
      int v = static_cast<int>(boost::target(*it, graph_));
      if (--indegree[v] == 0) ready.push(v);
    }
  }
  return order;
}

std::vector<std::string> Dag::topo_order() const {
  std::vector<std::string> out;
  for (int v : topo_order_indices()) out.push_back(names_[v]);
  return out;
}

std::vector<int> Dag::upstream(int v) const {
  std::vector<int> out;
  if (v < 0 || static_cast<size_t>(v) >= names_.size()) return out;
  for (auto [it, end] = boost::in_edges(v, graph_); it != end; ++it)
    out.push_back(static_cast<int>(boost::source(*it, graph_)));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> Dag::downstream(int v) const {
  std::vector<int> out;
  if (v < 0 || static_cast<size_t>(v) >= names_.size()) return out;
  for (auto [it, end] = boost::out_edges(v, graph_); it != end; ++it)
    out.push_back(static_cast<int>(boost::target(*it, graph_)));
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

template <typename Next>
std::vector<int> reach(int v, size_t n, Next next) {
  std::vector<int> out;
  if (v < 0 || static_cast<size_t>(v) >= n) return out;
  std::vector<char> seen(n, 0);
  std::vector<int> stack{v};
  seen[v] = 1;
  while (!stack.empty()) {
    int u = stack.back();
    stack.pop_back();
    for (int w : next(u)) {
      if (!seen[w]) {
        seen[w] = 1;
        stack.push_back(w);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (seen[i] && static_cast<int>(i) != v) out.push_back(static_cast<int>(i));
  }
  return out;
}

}  // namespace

std::vector<int> Dag::descendants(int v) const {
  return reach(v, names_.size(), [this](int u) { return downstream(u); });
}

std::vector<int> Dag::ancestors(int v) const {
  return reach(v, names_.size(), [this](int u) { return upstream(u); });
}

}  // namespace llmops::engine
