// A layered layout for DAGs too big to lay out in the browser: each node's column is its longest
// path from a source, its row in the column comes from two sweeps that place it near the mean
// row of its neighbours (barycentre). O(V + E) per sweep; a 10,000-step pipeline takes
// milliseconds. Nodes on a cycle (a spec that failed to check) go to column 0.
#pragma once

#include <utility>
#include <vector>

namespace llmops::ui {

struct Layers {
  std::vector<int> level;  // per node: its column
  std::vector<int> order;  // per node: its row in the column, 0-based
};

Layers layer_layout(int nodes, const std::vector<std::pair<int, int>>& edges);

}  // namespace llmops::ui
