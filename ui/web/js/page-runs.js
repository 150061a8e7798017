// Runs: newest first, filters (pipeline, state, trigger) in the URL, pagination by next_before,
// the feedback chain (parent <- run -> children), live state from run events.
import { get, url } from './api.js';
import { h, clear, badge, errorBox, empty, field, select, table, timeCell, fmtDur, duration,
  RUN_STATES, TRIGGERS, STATES } from './dom.js';
import { setQuery } from './router.js';
import * as live from './live.js';

const LIMIT = 50;

export async function mount(main, ctx) {
  document.title = 'Runs · llmops';
  let q = ctx.query;
  let data = null;
  let refetchTimer = null;
  const filters = h('form.filters', { role: 'search', 'aria-label': 'Filter runs' });
  filters.addEventListener('submit', (e) => e.preventDefault());
  const body = h('div.runs-body');
  clear(main, h('div.page-head', null, h('h1', null, 'Runs')), filters, body);

  async function load() {
    try {
      data = await get(url('/api/runs', { pipeline: q.pipeline, state: q.state, trigger: q.trigger,
        before: q.before, limit: q.limit || LIMIT }), ctx.signal);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      data = null;
      clear(filters);
      clear(body, errorBox(e));
      return;
    }
    renderFilters();
    renderTable();
  }

  function renderFilters() {
    const pipelines = [['', 'All pipelines'], ...(data.pipelines || []).map((p) => [p, p])];
    if (q.pipeline && !(data.pipelines || []).includes(q.pipeline)) pipelines.push([q.pipeline, q.pipeline]);
    const pick = (key) => (e) => setQuery({ [key]: e.target.value, before: null });
    clear(filters,
      field('Pipeline', select('f-pipeline', pipelines, q.pipeline, pick('pipeline'))),
      field('State', select('f-state', [['', 'All states'], ...RUN_STATES.map((s) => [s, s])], q.state, pick('state'))),
      field('Trigger', select('f-trigger', [['', 'All triggers'], ...TRIGGERS.map((s) => [s, s])], q.trigger, pick('trigger'))),
      (q.pipeline || q.state || q.trigger) ? h('a.button.secondary', { href: '/runs' }, 'Clear filters') : null);
  }

  function renderTable() {
    const runs = data.runs || [];
    if (!runs.length) {
      const filtered = q.pipeline || q.state || q.trigger || q.before;
      clear(body, empty(filtered ? 'No runs match these filters.'
        : 'No runs yet. Start one with `llmops run PIPELINE.yaml`; it shows up here by itself.'));
      return;
    }
    const rows = runs.map(row);
    const pager = h('nav.pager', { 'aria-label': 'Pages of runs' },
      q.before ? h('a', { href: url('/runs', { ...q, before: null }) }, '← Newest') : null,
      data.next_before != null ? h('a', { href: url('/runs', { ...q, before: data.next_before }), rel: 'next' }, 'Older runs →') : null);
    clear(body, table(['Run', 'Pipeline', 'State', 'Trigger', 'Cycle', 'Started', 'Duration', 'Steps', 'Feedback chain'], rows,
      { id: 'runs-table' }), pager);
  }

  function onRun(r) {
    const tr = body.querySelector(`tr[data-run="${r.id}"]`);
    if (tr && data) {
      const i = data.runs.findIndex((x) => x.id === r.id);
      const merged = { ...data.runs[i], ...r, steps: r.steps || data.runs[i].steps, children: r.children || data.runs[i].children };
      data.runs[i] = merged;
      tr.replaceWith(row(merged));
    } else if (!q.before) {
      // A new run (or one that now matches): refetch the page, at most every 500 ms.
      clearTimeout(refetchTimer);
      refetchTimer = setTimeout(load, 500);
    }
  }

  await load();
  if (data) live.connect({ cursor: data.cursor, onRun, refetch: load });
  return {
    async update(nq) {
      q = nq;
      await load();
      return true;
    },
    destroy() {
      clearTimeout(refetchTimer);
      live.disconnect();
    },
  };
}

function trigger(r) {
  if (r.trigger === 'feedback' && r.parent_run != null) {
    return h('span', null, 'feedback ← ', h('a', { href: `/runs/${r.parent_run}`, 'aria-label': `feedback from run ${r.parent_run}` }, `#${r.parent_run}`));
  }
  const info = r.trigger_info || {};
  const extra = r.trigger === 'cron' || r.trigger === 'watch' ? info.schedule : '';
  return h('span', null, r.trigger || 'manual', extra ? h('span.muted', null, ` ${extra}`) : null);
}

function chain(r) {
  const parts = [];
  if (r.parent_run != null) parts.push(h('a', { href: `/runs/${r.parent_run}` }, `#${r.parent_run}`), ' → ');
  if (r.parent_run != null || (r.children && r.children.length)) parts.push(h('strong', null, `#${r.id}`));
  for (const c of r.children || []) parts.push(' → ', h('a', { href: `/runs/${c}` }, `#${c}`));
  return parts.length ? h('span.chain', null, parts) : h('span.muted', null, '–');
}

export function stepBar(counts) {
  if (!counts || !counts.total) return h('span.muted', null, '–');
  const done = (counts.succeeded || 0) + (counts.cached || 0);
  const label = `${done} of ${counts.total} steps done` +
    STATES.filter((s) => counts[s] && s !== 'succeeded').map((s) => `, ${counts[s]} ${s}`).join('');
  return h('div.stepbar-wrap', { title: label },
    h('div.stepbar', { role: 'img', 'aria-label': label },
      STATES.filter((s) => counts[s]).map((s) => h('span', { class: `st-${s}`, style: { flexGrow: counts[s] } }))),
    h('span.stepbar-text', null, `${done}/${counts.total}`));
}

function row(r) {
  return h('tr', { dataset: { run: r.id, state: r.state } },
    h('td', null, h('a', { href: `/runs/${r.id}` }, `#${r.id}`)),
    h('td', null, r.pipeline),
    h('td', null, badge(r.state)),
    h('td', null, trigger(r)),
    h('td.num', null, r.cycle ?? 0),
    h('td', null, timeCell(r.started_at || r.created_at)),
    h('td.num', null, fmtDur(duration(r))),
    h('td', null, stepBar(r.steps)),
    h('td', null, chain(r)));
}
