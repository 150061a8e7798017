// The run DAG for runs of up to 500 steps: dagre layout in the worker, SVG nodes
// <g data-step data-state tabindex=0> with the state as colour and as text; Enter opens the step.
import { h, fmtDur, duration } from './dom.js';
import { layout, svgGraph, activatable, clip } from './graph.js';

const W = 180;
const H = 50;

export async function dagSvg(steps, edges, { onOpen, selected }) {
  const el = h('div.dag-scroll', { id: 'dag', tabindex: '-1' });
  const sizes = steps.map(() => ({ w: W, h: H }));
  const lay = await layout(sizes, edges, 'TB');
  const nodes = [];
  const svg = svgGraph(lay, sizes, edges, (i, x, y) => {
    const g = h('g', { class: 'node', transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, tabindex: '0',
      role: 'button', dataset: { step: steps[i].name } });
    activatable(g, () => onOpen(steps[i].name));
    nodes[i] = g;
    paint(i);
    return g;
  }, `Pipeline graph: ${steps.length} steps`);
  el.append(svg, legend());

  function paint(i) {
    const s = steps[i];
    const g = nodes[i];
    g.dataset.state = s.state;
    g.setAttribute('class', `node st-${s.state}${s.name === selected ? ' selected' : ''}`);
    g.setAttribute('aria-label', `${s.name}: ${s.state}${s.attempts > 1 ? `, ${s.attempts} attempts` : ''}. Press Enter for details.`);
    const d = duration(s);
    const sub = [s.state, s.attempts > 1 ? `×${s.attempts}` : '', d != null && s.state !== 'pending' ? fmtDur(d) : '']
      .filter(Boolean).join(' · ');
    g.replaceChildren(
      h('title', null, `${s.name} (${s.uses || ''}): ${s.state}${s.reason ? ' – ' + s.reason : ''}`),
      h('rect', { class: 'box', width: W, height: H, rx: 6 }),
      h('rect', { class: 'stripe', width: 6, height: H, rx: 2 }),
      h('text', { class: 'name', x: 14, y: 20 }, clip(s.name, 21)),
      h('text', { class: 'sub', x: 14, y: 38 }, clip(sub, 25)));
  }

  return {
    el,
    updateStep: paint,
    select(name) {
      selected = name;
      steps.forEach((s, i) => nodes[i].classList.toggle('selected', s.name === name));
    },
    destroy() {},
  };
}

export function legend() {
  const states = ['pending', 'running', 'succeeded', 'failed', 'cached', 'skipped', 'cancelled'];
  return h('ul.legend', { 'aria-label': 'State colours' },
    states.map((s) => h('li', null, h('span.swatch', { class: `st-${s}`, 'aria-hidden': 'true' }), s)));
}
