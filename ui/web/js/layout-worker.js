// Lays out a graph with dagre off the main thread (classic worker; CSP 'self' allows it).
// In:  {id, nodes: [{w, h}], edges: [[from, to]], rankdir}
// Out: {id, nodes: [{x, y}] (centres), edges: [[[x, y], ...]], width, height} or {id, error}.
/* global dagre */
importScripts('/vendor/dagre.min.js');

self.onmessage = (e) => {
  const { id, nodes, edges, rankdir } = e.data;
  try {
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: rankdir || 'LR', nodesep: 18, ranksep: 56, edgesep: 8, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    nodes.forEach((n, i) => g.setNode(String(i), { width: n.w, height: n.h }));
    edges.forEach(([a, b]) => g.setEdge(String(a), String(b)));
    dagre.layout(g);
    const out = nodes.map((_, i) => {
      const n = g.node(String(i));
      return { x: n.x, y: n.y };
    });
    const lines = edges.map(([a, b]) => {
      const ed = g.edge(String(a), String(b));
      return ed && ed.points ? ed.points.map((p) => [p.x, p.y]) : [];
    });
    const gr = g.graph();
    self.postMessage({ id, nodes: out, edges: lines, width: gr.width, height: gr.height });
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message || err) });
  }
};
