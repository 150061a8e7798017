// The step table, virtualized: whatever the run's size, only the rows in view (about 40) are in
// the DOM, each tr[data-step][data-state]. Filters (state, name) come from the page's URL.
import { h, badge, fmtDur, duration, timeCell, empty } from './dom.js';
import { url } from './api.js';

const ROWH = 34;
const OVERSCAN = 8;

export function stepTable(runId, steps, { filter, selected }) {
  let vis = [];
  let start = -1;
  let end = -1;
  let frame = 0;
  const topPad = h('tr.pad', { 'aria-hidden': 'true' });
  const bottomPad = h('tr.pad', { 'aria-hidden': 'true' });
  const tbody = h('tbody');
  const count = h('p.count', { role: 'status' });
  const scroller = h('div.vscroll', { tabindex: '0', 'aria-label': 'Steps' },
    h('table.grid.steps', { id: 'step-table' },
      h('thead', null, h('tr', null, ['Step', 'Plugin', 'State', 'Attempts', 'Started', 'Duration', 'Reason']
        .map((x) => h('th', { scope: 'col' }, x)))),
      tbody));
  const el = h('div.steptable', null, count, scroller);

  function applyFilter(f, keepScroll) {
    if (!keepScroll) scroller.scrollTop = 0;
    filter = f;
    const states = f.state ? new Set(f.state.split(',')) : null;
    const needle = (f.q || '').toLowerCase();
    vis = [];
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      if (states && !states.has(s.state)) continue;
      if (needle && !s.name.toLowerCase().includes(needle) && !(s.uses || '').toLowerCase().includes(needle)) continue;
      vis.push(i);
    }
    count.textContent = vis.length === steps.length ? `${steps.length.toLocaleString('en-US')} steps`
      : `${vis.length.toLocaleString('en-US')} of ${steps.length.toLocaleString('en-US')} steps match`;
    scroller.style.height = `${Math.min(vis.length, 18) * ROWH + ROWH + 4}px`;
    start = end = -1;
    render();
  }

  function render() {
    frame = 0;
    if (!vis.length) {
      tbody.replaceChildren(h('tr', null, h('td', { colspan: 7 }, empty('No steps match these filters.'))));
      start = end = -1;
      return;
    }
    const top = Math.max(0, scroller.scrollTop - ROWH);
    const viewH = scroller.clientHeight || 600;
    const s = Math.max(0, Math.min(vis.length - 1, Math.floor(top / ROWH) - OVERSCAN));
    const e = Math.min(vis.length, Math.ceil((top + viewH) / ROWH) + OVERSCAN);
    if (s === start && e === end) return;
    start = s;
    end = e;
    topPad.style.height = `${s * ROWH}px`;
    bottomPad.style.height = `${(vis.length - e) * ROWH}px`;
    const rows = [];
    for (let k = s; k < e; k++) rows.push(row(vis[k]));
    tbody.replaceChildren(topPad, ...rows, bottomPad);
  }

  function row(i) {
    const s = steps[i];
    const href = url(`/runs/${runId}`, { ...filter, view: 'table', step: s.name });
    return h('tr', { dataset: { step: s.name, state: s.state, i }, class: s.name === selected ? 'selected' : null },
      h('td.name', null, h('a', { href }, s.name)),
      h('td.muted', null, s.uses || ''),
      h('td', null, badge(s.state)),
      h('td.num', null, s.attempts || 0),
      h('td', null, timeCell(s.started_at)),
      h('td.num', null, fmtDur(duration(s))),
      h('td.reason', { title: s.reason || '' }, s.reason || ''));
  }

  scroller.addEventListener('scroll', () => { if (!frame) frame = requestAnimationFrame(render); });
  applyFilter(filter || {});

  return {
    el,
    updateStep(i) {
      const tr = tbody.querySelector(`tr[data-i="${i}"]`);
      if (tr) tr.replaceWith(row(i));
      else if (filter.state) applyFilter(filter, true); // it may now match (or no longer)
    },
    setFilter: applyFilter,
    refreshFilter: () => applyFilter(filter, true),
    select(name) {
      selected = name;
      for (const tr of tbody.querySelectorAll('tr[data-step]')) tr.classList.toggle('selected', tr.dataset.step === name);
    },
    afterAttach: render,
    destroy() { cancelAnimationFrame(frame); },
  };
}
