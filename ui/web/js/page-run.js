// The run page: header (state, trigger, feedback chain, actions), the DAG (SVG via dagre, or a
// canvas for big runs), the virtualized step table, the timeline, and the step panel. Step states
// follow the SSE stream (or polling) without a reload. Query: view, state, q, step, tab.
import { get, post, enc, url, meta } from './api.js';
import { h, clear, badge, errorBox, loading, field, select, stats, timeCell, fmtDur, duration,
  STATES } from './dom.js';
import { setQuery } from './router.js';
import * as live from './live.js';
import { dagSvg } from './dag-svg.js';
import { dagCanvas } from './dag-canvas.js';
import { stepTable } from './steptable.js';
import { gantt } from './gantt.js';
import { stepPanel, TABS } from './steppanel.js';
import { stepBar } from './page-runs.js';

const VIEWS = [['graph', 'Graph'], ['table', 'Steps'], ['gantt', 'Timeline']];

export async function mount(main, ctx) {
  const id = ctx.params.id;
  let q = ctx.query;
  let snap = await get(`/api/runs/${enc(id)}`, ctx.signal);
  const m = await meta();
  let index = new Map(snap.steps.map((s, i) => [s.name, i]));
  let view = null;
  let viewName = null;
  let panel = null;
  let ganttTimer = 0;
  let panelTimer = 0;
  document.title = `Run #${snap.run.id} ${snap.run.pipeline} · llmops`;

  const head = h('div.run-head');
  const tabs = h('nav.tabs', { 'aria-label': 'Run views' });
  const toolbar = h('form.filters', { role: 'search', 'aria-label': 'Filter steps' });
  toolbar.addEventListener('submit', (e) => e.preventDefault());
  const viewEl = h('div.view');
  const panelEl = h('div.panel-slot');
  const layoutEl = h('div.run-layout', null, h('section.run-main', null, tabs, toolbar, viewEl), panelEl);
  const notes = h('div.notes');
  clear(main, head, notes, layoutEl);

  const linkFor = (changes) => {
    const nq = { ...q, ...changes };
    for (const k of Object.keys(nq)) if (nq[k] == null || nq[k] === '') delete nq[k];
    return url(`/runs/${enc(id)}`, nq);
  };
  const open = (name) => setQuery({ step: name, tab: q.tab || null });

  function renderHead() {
    const r = snap.run;
    const actions = m.actions ? actionButtons(r) : null;
    const trig = r.trigger === 'feedback' && r.parent_run != null
      ? h('span', null, 'feedback ← ', h('a', { href: `/runs/${r.parent_run}` }, `run #${r.parent_run}`))
      : (r.trigger || 'manual');
    const chain = (r.parent_run != null || (r.children && r.children.length)) ? h('span.chain', null,
      r.parent_run != null ? [h('a', { href: `/runs/${r.parent_run}` }, `#${r.parent_run}`), ' → '] : null,
      h('strong', null, `#${r.id}`), (r.children || []).map((c) => [' → ', h('a', { href: `/runs/${c}` }, `#${c}`)])) : null;
    clear(head,
      h('div.title-row', null,
        h('h1', null, `Run #${r.id} `, h('span.muted', null, r.pipeline)), badge(r.state, r.state === 'running' ? '' : null),
        actions),
      stats([
        ['Trigger', trig], ['Cycle', String(r.cycle ?? 0)], chain ? ['Feedback chain', chain] : null,
        ['Started', r.started_at ? timeCell(r.started_at) : '–'],
        ['Duration', fmtDur(duration(r))], ['Steps', stepBar(counts())],
        r.engine ? ['Engine', `pid ${r.engine.pid} on ${r.engine.host}${r.engine.alive === false ? ' (gone)' : ''}`] : null,
      ]),
      h('p.muted.file', null, 'File ', h('code', null, r.file || '–'),
        r.params && Object.keys(r.params).length ? [' · params ', h('code', null, JSON.stringify(r.params))] : null),
      r.error ? h('p.reason.st-text-failed', null, r.error) : null);
  }

  function counts() {
    const c = { total: snap.steps.length };
    for (const s of STATES) c[s] = 0;
    for (const s of snap.steps) c[s.state] = (c[s.state] || 0) + 1;
    return c;
  }

  function actionButtons(r) {
    const act = (what, label, cls) => h('button', { type: 'button', class: cls, dataset: { action: what },
      onclick: async (e) => {
        e.target.disabled = true;
        notes.replaceChildren();
        try {
          const res = await post(`/api/runs/${enc(r.id)}/${what}`);
          const nid = res && res.result && (res.result.run || res.result.id);
          notes.append(h('p.ok', { role: 'status' }, `${label}: done.`, nid && nid !== r.id ? [' New run ', h('a', { href: `/runs/${nid}` }, `#${nid}`)] : null));
        } catch (err) {
          notes.append(errorBox(err));
        } finally {
          e.target.disabled = false;
        }
      } }, label);
    const running = r.state === 'running' || r.state === 'pending';
    return h('div.actions', null,
      running ? act('cancel', 'Cancel', 'danger') : null,
      ['failed', 'cancelled'].includes(r.state) ? act('resume', 'Resume') : null,
      !running ? act('rerun', 'Rerun', 'secondary') : null);
  }

  function renderTabs() {
    clear(tabs, VIEWS.map(([k, label]) => h('a', { href: linkFor({ view: k }), 'aria-current': k === viewName ? 'page' : null, dataset: { view: k } }, label)));
    if (viewName === 'table') {
      const st = select('f-step-state', [['', 'All states'], ...STATES.map((s) => [s, s])], q.state, (e) => setQuery({ state: e.target.value }));
      const name = h('input', { id: 'f-step-name', type: 'search', value: q.q || '', placeholder: 'name or plugin' });
      name.addEventListener('input', () => setQuery({ q: name.value }, { replace: true }));
      clear(toolbar, field('State', st), field('Name', name));
    } else clear(toolbar);
  }

  async function showView(name) {
    if (view) view.destroy();
    view = null;
    viewName = VIEWS.some(([k]) => k === name) ? name : 'graph';
    renderTabs();
    clear(viewEl, loading());
    const steps = snap.steps;
    if (viewName === 'table') {
      view = stepTable(id, steps, { filter: { state: q.state, q: q.q }, selected: q.step });
    } else if (viewName === 'gantt') {
      const at = await get(`/api/runs/${enc(id)}/attempts`, ctx.signal);
      view = gantt(at.attempts || [], { onOpen: (n) => setQuery({ step: n, tab: 'attempts' }) });
    } else if (snap.layout === 'summary') {
      view = summaryView();
    } else if (snap.layout === 'layers') {
      view = dagCanvas(steps, snap.edges || [], { onOpen: open, selected: q.step });
    } else {
      view = await dagSvg(steps, snap.edges || [], { onOpen: open, selected: q.step });
    }
    clear(viewEl, snap.spec_error ? h('p.warn', null, `The pipeline file could not be read, so the graph has no edges: ${snap.spec_error}`) : null,
      steps.length || view.summary ? view.el : h('p.empty', null, 'This run has no steps.'));
    if (view.afterAttach) view.afterAttach();
    if (view.draw) view.draw();
  }

  // Past a size the server sends counts and the steps that need a look, not every step.
  function summaryView() {
    const c = snap.counts || {};
    const el = h('div.summary', { id: 'run-summary', dataset: { steps: String(snap.total_steps) } },
      h('p', null, `This run has ${Number(snap.total_steps).toLocaleString()} steps, too many to draw here. `
        + `Steps lists the ${snap.steps.length} that are running, failed or cancelled; `
        + `llmops show ${snap.run.id} --json --steps-offset N --steps-limit M pages through all of them.`),
      stats(STATES.map((s) => [s, Number(c[s] || 0).toLocaleString()])));
    return { el, summary: true, destroy() {} };
  }

  function showPanel() {
    if (panel && (panel.name !== q.step)) {
      panel.destroy();
      panel = null;
    }
    layoutEl.classList.toggle('with-panel', !!q.step);
    if (!q.step) return clear(panelEl);
    const tab = TABS.some(([k]) => k === q.tab) ? q.tab : 'log';
    if (panel) return panel.setTab(tab);
    panel = stepPanel(id, q.step, tab, linkFor);
    clear(panelEl, panel.el);
    if (view && view.select) view.select(q.step);
  }

  function applyStep(ev) {
    const i = index.get(ev.name);
    if (i == null) return;
    const s = snap.steps[i];
    const changed = s.state !== ev.state || s.attempts !== ev.attempts || s.ended_at !== ev.ended_at;
    Object.assign(s, ev);
    delete s.run;
    if (!changed) return;
    if (view && view.updateStep) view.updateStep(i);
    if (viewName === 'gantt') {
      clearTimeout(ganttTimer);
      ganttTimer = setTimeout(() => showView('gantt'), 1000);
    }
    if (panel && panel.name === ev.name) {
      clearTimeout(panelTimer);
      panelTimer = setTimeout(() => panel && panel.refresh(), 300);
    }
    scheduleHead();
  }

  let headTimer = 0;
  const scheduleHead = () => { if (!headTimer) headTimer = setTimeout(() => { headTimer = 0; renderHead(); }, 250); };

  async function refetch() {
    const fresh = await get(`/api/runs/${enc(id)}`);
    live.setCursor(fresh.cursor);
    snap.run = fresh.run;
    if (fresh.steps.length !== snap.steps.length) {
      snap = fresh;
      index = new Map(snap.steps.map((s, i) => [s.name, i]));
      await showView(viewName);
    } else {
      fresh.steps.forEach((s) => applyStep(s));
    }
    renderHead();
  }

  renderHead();
  await showView(q.view);
  showPanel();
  live.connect({
    run: id, cursor: snap.cursor, refetch,
    onRun: (r) => {
      if (String(r.id) !== String(id)) return;
      snap.run = { ...snap.run, ...r };
      scheduleHead();
    },
    onStep: (ev) => { if (ev.run == null || String(ev.run) === String(id)) applyStep(ev); },
    onFatal: (err) => notes.replaceChildren(errorBox(err)),
  });

  return {
    async update(nq) {
      const old = q;
      q = nq;
      if ((nq.view || 'graph') !== (old.view || 'graph')) await showView(nq.view);
      else if (viewName === 'table' && (nq.state !== old.state || nq.q !== old.q)) {
        view.setFilter({ state: nq.state, q: nq.q });
        if (nq.state !== old.state) renderTabs();
      }
      if (nq.step !== old.step || nq.tab !== old.tab) showPanel();
      if (view && view.select) view.select(nq.step);
      return true;
    },
    destroy() {
      live.disconnect();
      clearTimeout(ganttTimer);
      clearTimeout(panelTimer);
      clearTimeout(headTimer);
      if (view) view.destroy();
      if (panel) panel.destroy();
    },
  };
}

