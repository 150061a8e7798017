// The layered layout: see layout.hpp.
#include "ui/layout.hpp"

#include <algorithm>
#include <numeric>

namespace llmops::ui {

Layers layer_layout(int n, const std::vector<std::pair<int, int>>& edges) {
  Layers out{std::vector<int>(n, 0), std::vector<int>(n, 0)};
  std::vector<std::vector<int>> down(n), up(n);
  std::vector<int> indegree(n, 0);
  for (const auto& [from, to] : edges) {
    if (from < 0 || to < 0 || from >= n || to >= n || from == to) continue;
    down[from].push_back(to);
    up[to].push_back(from);
    ++indegree[to];
  }
  // Kahn's order; the level of a node is one more than its deepest parent's.
  std::vector<int> queue;
  queue.reserve(n);
  for (int v = 0; v < n; ++v)
    if (indegree[v] == 0) queue.push_back(v);
  for (size_t i = 0; i < queue.size(); ++i)
    for (int w : down[queue[i]]) {
      out.level[w] = std::max(out.level[w], out.level[queue[i]] + 1);
      if (--indegree[w] == 0) queue.push_back(w);
    }
  int columns = 0;
  for (int v = 0; v < n; ++v) columns = std::max(columns, out.level[v] + 1);
  std::vector<std::vector<int>> column(columns);
  for (int v = 0; v < n; ++v) column[out.level[v]].push_back(v);  // file order to start

  std::vector<double> key(n, 0);
  auto place = [&](std::vector<int>& col) {
    std::stable_sort(col.begin(), col.end(), [&](int a, int b) { return key[a] < key[b]; });
    for (size_t i = 0; i < col.size(); ++i) out.order[col[i]] = static_cast<int>(i);
  };
  for (auto& col : column) place(col);
  auto mean_of = [&](int v, const std::vector<std::vector<int>>& near) {
    if (near[v].empty()) return static_cast<double>(out.order[v]);
    double sum = 0;
    for (int w : near[v]) sum += out.order[w];
    return sum / static_cast<double>(near[v].size());
  };
  for (int sweep = 0; sweep < 2; ++sweep) {
    for (int c = 1; c < columns; ++c) {  // left to right, by parents
      for (int v : column[c]) key[v] = mean_of(v, up);
      place(column[c]);
    }
    for (int c = columns - 2; c >= 0; --c) {  // right to left, by children
      for (int v : column[c]) key[v] = mean_of(v, down);
      place(column[c]);
    }
  }
  return out;
}

}  // namespace llmops::ui
