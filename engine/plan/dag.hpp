// Dag: the steps of a pipeline as a directed graph (Boost.Graph), edge u -> v when v needs u.
//
// Built once from a PipelineSpec (vertices in file order; needs naming unknown steps are ignored:
// the validator reports those) and then only read. Answers the questions the validator, planner
// and scheduler ask: is there a cycle and which, in what order to run, who is up- and downstream.
// Immutable after build(); safe to read from several threads.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "engine/spec/pipeline.hpp"

namespace llmops::engine {

class Dag {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;

  static Dag build(const PipelineSpec& spec);
  // For tests and tools: vertices `names`, edges (from, to) by name (unknown names ignored).
  static Dag from_edges(const std::vector<std::string>& names,
                        const std::vector<std::pair<std::string, std::string>>& edges);

  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }
  int index(const std::string& name) const;  // -1 when unknown

  // One cycle as names, first repeated at the end, e.g. {"train","evaluate","train"} when
  // evaluate needs train and train needs evaluate. nullopt when acyclic. Deterministic.
  std::optional<std::vector<std::string>> find_cycle() const;
  // Steps in an order where every step comes after its needs; ties broken by file order.
  // Precondition: acyclic (steps on a cycle are left out).
  std::vector<std::string> topo_order() const;
  std::vector<int> topo_order_indices() const;

  // Direct neighbours, ascending.
  std::vector<int> upstream(int v) const;
  std::vector<int> downstream(int v) const;
  // Everything reachable downstream (transitive), ascending; v itself excluded.
  std::vector<int> descendants(int v) const;
  // Everything v depends on (transitive), ascending; v itself excluded.
  std::vector<int> ancestors(int v) const;

  const Graph& graph() const { return graph_; }

 private:
  void add_edge(int from, int to);

  Graph graph_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, int> index_;
};

}  // namespace llmops::engine
