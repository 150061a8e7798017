// Lineage: a graph from any artifact, step or deployment (?ref=..&direction=upstream|downstream).
// Clicking a node selects it; "Expand" (or a click on an artifact) fetches the lineage around it
// in both directions and merges it in. Expanded nodes live in the URL (&expand=a,b).
import { get, url, enc } from './api.js';
import { h, clear, errorBox, loading, empty, field, select, facts, shortDigest } from './dom.js';
import { navigate } from './router.js';
import { layout, svgGraph, activatable, clip } from './graph.js';

const W = 210;
const H = 46;
const EXPAND_DEPTH = 2;

export async function mount(main, ctx) {
  document.title = 'Lineage · llmops';
  let q = ctx.query;
  const form = h('form.filters', { role: 'search', 'aria-label': 'Lineage of' });
  const graphEl = h('div.lineage-graph');
  const side = h('aside.box', { id: 'lineage-node', 'aria-label': 'Selected node' });
  clear(main, h('div.page-head', null, h('h1', null, 'Lineage')), form, h('div.lineage-wrap', null, graphEl, side));
  let nodes = new Map();
  let edges = new Map();
  let rootId = null;

  function renderForm() {
    const ref = h('input', { id: 'f-ref', type: 'text', size: 48, value: q.ref || '',
      placeholder: 'deployment:NAME, RUN:STEP, or an artifact digest' });
    const dir = select('f-direction', [['upstream', 'upstream (where it came from)'], ['downstream', 'downstream (what used it)']], q.direction || 'upstream');
    form.onsubmit = (e) => {
      e.preventDefault();
      navigate(url('/lineage', { ref: ref.value.trim(), direction: dir.value }));
    };
    dir.onchange = () => form.requestSubmit();
    clear(form, field('Artifact or step', ref), field('Direction', dir), h('button', { type: 'submit' }, 'Show'));
  }

  function merge(res, depthBase) {
    for (const n of res.nodes || []) if (!nodes.has(n.id)) nodes.set(n.id, { ...n, depth: n.depth + depthBase });
    for (const e of res.edges || []) edges.set(`${e.from}>${e.to}>${e.role || ''}`, e);
  }

  async function load() {
    nodes = new Map();
    edges = new Map();
    renderForm();
    if (!q.ref) {
      clear(graphEl, empty('Enter a reference: deployment:NAME (what serves now), RUN:STEP (a step\'s outputs), or an artifact digest.'));
      clear(side, h('h2', null, 'Start from a deployment'), loading());
      try {
        const d = await get('/api/deployments', ctx.signal);
        clear(side, h('h2', null, 'Start from a deployment'), (d.deployments || []).length
          ? h('ul', null, d.deployments.map((x) => h('li', null, h('a', { href: url('/lineage', { ref: `deployment:${x.name}`, direction: 'upstream' }) }, `deployment:${x.name}`))))
          : empty('No deployments yet.'));
      } catch (e) {
        clear(side, errorBox(e));
      }
      return;
    }
    clear(graphEl, loading());
    clear(side, empty('Select a node for its details.'));
    try {
      const res = await get(url('/api/lineage', { ref: q.ref, direction: q.direction || 'upstream' }), ctx.signal);
      merge(res, 0);
      rootId = (res.nodes || []).find((n) => n.depth === 0)?.id;
      for (const id of (q.expand || '').split(',').filter(Boolean)) await expand(id, false);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      return void clear(graphEl, errorBox(e));
    }
    await draw();
  }

  async function expand(id, redraw = true) {
    const res = await Promise.all(['upstream', 'downstream'].map((d) =>
      get(url('/api/lineage', { ref: id, direction: d, depth: EXPAND_DEPTH }), ctx.signal)));
    res.forEach((r) => merge(r, 0));
    if (redraw) {
      const list = new Set((q.expand || '').split(',').filter(Boolean));
      list.add(id);
      q = { ...q, expand: [...list].join(',') };
      history.replaceState(null, '', url('/lineage', q));
      await draw();
      pick(id);
    }
  }

  async function draw() {
    const list = [...nodes.values()];
    if (!list.length) return void clear(graphEl, empty('Nothing recorded for this reference.'));
    const idx = new Map(list.map((n, i) => [n.id, i]));
    const es = [...edges.values()].filter((e) => idx.has(e.from) && idx.has(e.to)).map((e) => [idx.get(e.from), idx.get(e.to)]);
    const sizes = list.map(() => ({ w: W, h: H }));
    const lay = await layout(sizes, es, 'TB');
    const expanded = new Set((q.expand || '').split(',').filter(Boolean));
    const svg = svgGraph(lay, sizes, es, (i, x, y) => {
      const n = list[i];
      const ex = parseExec(n);
      const line1 = n.type === 'artifact' ? n.label : ex ? `run ${ex.run} · ${ex.step}` : n.label;
      const line2 = n.type === 'artifact' ? shortDigest(n.id) : ex ? ex.plugin.replace(/@.*/, '') : '';
      const g = h('g', { class: `lnode ${n.type}${n.id === rootId ? ' root' : ''}`, tabindex: '0', role: 'button',
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        dataset: { nodeId: n.id, nodeType: n.type, label: n.label, expanded: expanded.has(n.id) ? '1' : null },
        'aria-label': `${n.type} ${n.label}${n.id === rootId ? ' (start)' : ''}` },
      h('title', null, `${n.label}\n${n.id}`),
      h('rect', { class: 'box', width: W, height: H, rx: n.type === 'artifact' ? 16 : 4 }),
      h('text', { class: 'kind', x: 12, y: 16 }, n.type === 'artifact' ? 'artifact' : 'step'),
      h('text', { x: 12, y: 33 }, clip(line1, 27)),
      h('text', { class: 'meta', x: W - 10, y: 16, 'text-anchor': 'end' }, clip(line2, 20)));
      activatable(g, () => {
        pick(n.id);
        if (n.type === 'artifact' && !expanded.has(n.id)) expand(n.id).catch((e) => side.prepend(errorBox(e)));
      });
      return g;
    }, `Lineage graph with ${list.length} nodes`);
    clear(graphEl, h('p.hint', null, `${list.length} nodes. Data flows top to bottom; click an artifact to expand around it.`),
      h('div.dag-scroll', { id: 'lineage' }, svg));
    if (q.node) pick(q.node);
  }

  function pick(id) {
    const n = nodes.get(id);
    for (const g of graphEl.querySelectorAll('.lnode')) g.classList.toggle('selected', g.dataset.nodeId === id);
    if (!n) return;
    if (q.node !== id) {
      q = { ...q, node: id };
      history.replaceState(null, '', url('/lineage', q));
    }
    const ex = parseExec(n);
    clear(side, h('h2', null, n.label),
      facts([['Type', n.type], ['Id', h('code', null, n.id)], ['Depth', String(n.depth)]]),
      h('ul.links', null,
        n.type === 'artifact' ? h('li', null, h('a', { href: `/artifacts/${enc(n.id)}` }, 'Open the artifact')) : null,
        ex ? h('li', null, h('a', { href: url(`/runs/${ex.run}`, { step: ex.step, tab: 'io' }) }, `Open run ${ex.run}, step ${ex.step}`)) : null,
        n.type === 'artifact' ? h('li', null, h('a', { href: url('/lineage', { ref: n.id, direction: 'upstream' }) }, 'Start here, upstream')) : null,
        n.type === 'artifact' ? h('li', null, h('a', { href: url('/lineage', { ref: n.id, direction: 'downstream' }) }, 'Start here, downstream')) : null),
      h('button.secondary', { type: 'button', onclick: () => expand(id).catch((e) => side.prepend(errorBox(e))) }, 'Expand around this node'));
  }

  await load();
  return {
    async update(nq) {
      const same = nq.ref === q.ref && nq.direction === q.direction && nq.expand === q.expand;
      q = nq;
      if (!same) await load();
      else if (q.node) pick(q.node);
      return true;
    },
  };
}

// "run 6: deploy (deployer/http@1.0.0) [cached]" -> {run, step, plugin}
function parseExec(n) {
  if (n.type !== 'execution') return null;
  const m = /^run (\d+): ([^\s(]+)\s*(?:\(([^)]*)\))?/.exec(n.label || '');
  return m ? { run: m[1], step: m[2], plugin: m[3] || '' } : null;
}

