// Graphs laid out by dagre in a worker (/js/layout-worker.js) and drawn as SVG. Used by the run
// DAG (<= 500 steps; bigger runs use the canvas in dag-canvas.js) and the lineage page.
import { h } from './dom.js';

let worker = null;
let nextId = 1;
const pending = new Map();

function getWorker() {
  if (worker !== null) return worker;
  try {
    worker = new Worker('/js/layout-worker.js');
    worker.onmessage = (e) => {
      const p = pending.get(e.data.id);
      pending.delete(e.data.id);
      if (p) p(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker = false;
      for (const [, p] of pending) p({ error: 'layout worker failed' });
      pending.clear();
    };
  } catch {
    worker = false;
  }
  return worker;
}

// Layout on the main thread: dagre if loaded, else columns by longest path.
function layoutHere(nodes, edges, rankdir) {
  if (window.dagre) {
    const g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir, nodesep: 18, ranksep: 56, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    nodes.forEach((n, i) => g.setNode(String(i), { width: n.w, height: n.h }));
    edges.forEach(([a, b]) => g.setEdge(String(a), String(b)));
    window.dagre.layout(g);
    return {
      nodes: nodes.map((_, i) => ({ x: g.node(String(i)).x, y: g.node(String(i)).y })),
      edges: edges.map(([a, b]) => (g.edge(String(a), String(b)).points || []).map((p) => [p.x, p.y])),
      width: g.graph().width, height: g.graph().height,
    };
  }
  const level = new Array(nodes.length).fill(0);
  for (let k = 0; k < nodes.length; k++) for (const [a, b] of edges) level[b] = Math.max(level[b], level[a] + 1);
  const rows = [];
  const pos = nodes.map((n, i) => {
    const r = (rows[level[i]] = (rows[level[i]] || 0) + 1) - 1;
    return { x: 16 + level[i] * 240 + n.w / 2, y: 16 + r * 70 + n.h / 2 };
  });
  return {
    nodes: pos,
    edges: edges.map(([a, b]) => [[pos[a].x, pos[a].y], [pos[b].x, pos[b].y]]),
    width: Math.max(...pos.map((p) => p.x)) + 200, height: Math.max(...pos.map((p) => p.y)) + 60,
  };
}

// layout([{w, h}], [[from, to]]) -> Promise<{nodes: [{x, y}], edges: [[[x, y]...]], width, height}>
export function layout(nodes, edges, rankdir = 'LR') {
  const w = getWorker();
  if (!w) return Promise.resolve(layoutHere(nodes, edges, rankdir));
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, (res) => resolve(res.error ? layoutHere(nodes, edges, rankdir) : res));
    w.postMessage({ id, nodes, edges, rankdir });
  });
}

const pathOf = (pts) => pts.map((p, i) => `${i ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ');

// Draws an SVG from a layout. nodeFn(i, x, y) returns the <g> of node i (at its top-left corner).
export function svgGraph(lay, sizes, edges, nodeFn, label) {
  const svg = h('svg', { class: 'graph', width: Math.ceil(lay.width), height: Math.ceil(lay.height),
    viewBox: `0 0 ${Math.ceil(lay.width)} ${Math.ceil(lay.height)}`, role: 'group', 'aria-label': label });
  const defs = h('defs', null, h('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, h('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })));
  const edgeLayer = h('g', { class: 'edges', 'aria-hidden': 'true' },
    lay.edges.map((pts, k) => (pts.length ? h('path', { d: pathOf(pts), 'marker-end': 'url(#arrow)',
      dataset: { from: edges[k][0], to: edges[k][1] } }) : null)));
  const nodeLayer = h('g', { class: 'nodes' },
    lay.nodes.map((p, i) => nodeFn(i, p.x - sizes[i].w / 2, p.y - sizes[i].h / 2)));
  svg.append(defs, edgeLayer, nodeLayer);
  return svg;
}

// Activates a node with Enter/Space as well as a click.
export function activatable(el, fn) {
  el.addEventListener('click', fn);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      fn(e);
    }
  });
  return el;
}

// Truncates text to n characters with an ellipsis (SVG text does not wrap).
export const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
