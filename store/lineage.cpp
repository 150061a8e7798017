// Store::lineage: walks producers (upstream) or consumers (downstream) of artifacts with a
// recursive CTE bounded by a number of execution hops.
//
// Depths: the start artifacts are depth 0; an execution reached on hop k has depth k, and so do
// the artifacts reached through it (its inputs upstream, its outputs downstream).
#include <algorithm>
#include <set>

#include "store/store.hpp"
#include "store/store_impl.hpp"

namespace llmops::store {
namespace {

constexpr int kMaxDepth = 1000;

// ?1 = direction linking a walked artifact to the next execution, ?2 = the direction of the
// artifacts reached through it, ?3 = depth bound, ?4... = start digests.
std::string walk_cte(size_t starts) {
  std::string in;
  for (size_t i = 0; i < starts; ++i) in += (i ? ", ?" : "?") + std::to_string(i + 4);
  return "WITH RECURSIVE walk(digest, depth) AS ("
         " SELECT digest, 0 FROM artifacts WHERE digest IN (" +
         in +
         ")"
         " UNION"
         " SELECT far.artifact_digest, w.depth + 1 FROM walk w"
         " JOIN events near ON near.artifact_digest = w.digest AND near.direction = ?1"
         " JOIN events far ON far.execution_id = near.execution_id AND far.direction = ?2"
         " WHERE w.depth < ?3),"
         " arts(digest, depth) AS (SELECT digest, MIN(depth) FROM walk GROUP BY digest),"
         " execs(id, depth) AS (SELECT near.execution_id, MIN(w.depth) + 1 FROM walk w"
         " JOIN events near ON near.artifact_digest = w.digest AND near.direction = ?1"
         " WHERE w.depth < ?3 GROUP BY near.execution_id) ";
}

void bind_walk(SQLite::Statement& q, const std::vector<std::string>& starts, bool upstream,
               int depth) {
  q.bind(1, upstream ? "output" : "input");
  q.bind(2, upstream ? "input" : "output");
  q.bind(3, depth);
  for (size_t i = 0; i < starts.size(); ++i) q.bind(static_cast<int>(i + 4), starts[i]);
}

std::string execution_label(int64_t run_id, const std::string& step, const std::string& plugin,
                            const std::string& version, State state) {
  std::string label = "run " + std::to_string(run_id) + ": " + step;
  if (!plugin.empty()) label += " (" + plugin + (version.empty() ? "" : "@" + version) + ")";
  if (state == State::kCached) label += " [cached]";
  return label;
}

}  // namespace

Result<LineageGraph> Store::lineage(const std::vector<std::string>& start_digests, bool upstream,
                                    int depth) {
  if (start_digests.empty()) return Status::invalid("lineage: no start artifacts");
  depth = std::clamp(depth, 0, kMaxDepth);
  std::lock_guard lock(impl_->mu);
  return detail::guarded("lineage", [&]() -> Result<LineageGraph> {
    SQLite::Database& db = impl_->db;
    const std::string cte = walk_cte(start_digests.size());
    LineageGraph g;

    detail::Cached arts(db, cte +
                                "SELECT a.digest, a.kind, a.name, arts.depth FROM arts "
                                "JOIN artifacts a ON a.digest = arts.digest "
                                "ORDER BY arts.depth, a.digest");
    bind_walk(arts, start_digests, upstream, depth);
    std::set<std::string> found;
    while (arts.executeStep()) {
      LineageNode n;
      n.type = "artifact";
      n.id = arts.getColumn(0).getString();
      const std::string kind = detail::col_text(arts.getColumn(1));
      const std::string name = detail::col_text(arts.getColumn(2));
      n.label = kind.empty() && name.empty() ? n.id.substr(0, 19) : kind + "/" + name;
      n.depth = arts.getColumn(3).getInt();
      found.insert(n.id);
      g.nodes.push_back(std::move(n));
    }
    for (const std::string& d : start_digests) {
      if (!found.count(d)) return Status::not_found("no artifact " + d);
    }

    detail::Cached execs(db, cte +
                                 "SELECT x.id, x.run_id, x.step, x.plugin_id, x.plugin_version, "
                                 "x.state, execs.depth FROM execs "
                                 "JOIN executions x ON x.id = execs.id "
                                 "ORDER BY execs.depth, x.id");
    bind_walk(execs, start_digests, upstream, depth);
    while (execs.executeStep()) {
      LineageNode n;
      n.type = "execution";
      n.id = std::to_string(execs.getColumn(0).getInt64());
      const State state = detail::col_state(
          execs.getColumn(5), [&] { return "executions.state of execution " + n.id; });
      n.label = execution_label(execs.getColumn(1).getInt64(), detail::col_text(execs.getColumn(2)),
                                detail::col_text(execs.getColumn(3)),
                                detail::col_text(execs.getColumn(4)), state);
      n.depth = execs.getColumn(6).getInt();
      g.nodes.push_back(std::move(n));
    }

    detail::Cached edges(db, cte +
                                 "SELECT e.execution_id, e.artifact_digest, e.direction, e.role "
                                 "FROM events e JOIN execs ON execs.id = e.execution_id "
                                 "JOIN arts ON arts.digest = e.artifact_digest "
                                 "ORDER BY e.execution_id, e.direction, e.role, "
                                 "e.artifact_digest");
    bind_walk(edges, start_digests, upstream, depth);
    while (edges.executeStep()) {
      LineageEdge e;
      const std::string exec_id = std::to_string(edges.getColumn(0).getInt64());
      const std::string digest = edges.getColumn(1).getString();
      const bool input = edges.getColumn(2).getString() == "input";
      e.from = input ? digest : exec_id;
      e.to = input ? exec_id : digest;
      e.role = detail::col_text(edges.getColumn(3));
      g.edges.push_back(std::move(e));
    }
    return g;
  });
}

}  // namespace llmops::store
