// The step panel (?step=NAME&tab=log|attempts|params|io|metrics): attempts with their errors,
// the log (tail, follow over SSE, download), parameters, inputs/outputs and metrics.
import { get, enc, url } from './api.js';
import { h, clear, badge, errorBox, loading, empty, table, facts, jsonBlock, fmtTime, fmtDur, fmtBytes,
  fmtNum, duration, shortDigest } from './dom.js';
import { lineChart, toXY } from './chart.js';

const last = (pts) => {
  const p = pts[pts.length - 1];
  return p == null ? null : Array.isArray(p) ? p[1] : p.value;
};

export const TABS = [['log', 'Log'], ['attempts', 'Attempts'], ['params', 'Parameters'], ['io', 'Inputs/outputs'], ['metrics', 'Metrics']];
const TAIL = 65536;

export function stepPanel(runId, name, tab, linkFor) {
  const base = `/api/runs/${enc(runId)}/steps/${enc(name)}`;
  let detail = null;
  let logStream = null;
  let charts = [];
  const head = h('div.panel-head');
  const tabs = h('nav.tabs.small', { 'aria-label': 'Step details' });
  const body = h('div.panel-body');
  const el = h('aside.panel', { id: 'step-panel', 'aria-label': `Step ${name}`, dataset: { step: name } }, head, tabs, body);

  function renderHead() {
    const s = detail && detail.step;
    clear(head,
      h('div.panel-title', null, h('h2', null, name), s ? badge(s.state) : null,
        h('a.close', { href: linkFor({ step: null, tab: null }), 'aria-label': 'Close the step panel' }, '×')),
      s ? h('p.muted', null, [s.uses, `${s.attempts || 0} attempt${s.attempts === 1 ? '' : 's'}`, fmtDur(duration(s))].filter(Boolean).join(' · ')) : null,
      s && s.reason ? h('p.reason', { class: `st-text-${s.state}` }, s.reason) : null);
    clear(tabs, TABS.map(([k, label]) => h('a', { href: linkFor({ tab: k }), 'aria-current': k === tab ? 'page' : null,
      dataset: { tab: k } }, label)));
  }

  async function load() {
    try {
      detail = await get(base);
    } catch (e) {
      detail = null;
      renderHead();
      clear(body, errorBox(e));
      return;
    }
    renderHead();
    await renderTab();
  }

  function stopLog() {
    if (logStream) logStream.close();
    logStream = null;
  }

  async function renderTab() {
    stopLog();
    charts.forEach((c) => c.destroy());
    charts = [];
    if (!detail) return;
    const exs = detail.executions || [];
    if (tab === 'attempts') clear(body, attempts(exs));
    else if (tab === 'params') clear(body, params(detail.step));
    else if (tab === 'io') clear(body, io(exs));
    else if (tab === 'metrics') clear(body, metrics(exs));
    else await log();
  }

  async function log() {
    const pre = h('pre.log', { tabindex: '0', 'aria-label': `Log of ${name}` });
    const note = h('p.muted');
    const running = ['running', 'pending'].includes(detail.step.state);
    const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: running });
    const bar = h('div.log-bar', null,
      h('label', { for: 'log-follow' }, follow, ' Follow'),
      h('a.button.secondary', { href: `${base}/log/download`, download: `${name}.log` }, 'Download'), note);
    clear(body, bar, pre);
    let res;
    try {
      res = await get(url(`${base}/log`, { offset: -TAIL, max: TAIL }));
    } catch (e) {
      return void body.replaceChildren(bar, errorBox(e));
    }
    pre.textContent = res.text || '';
    if (!res.text) pre.append(h('span.muted', null, running ? 'No log lines yet.' : 'This step wrote no log lines.'));
    note.textContent = res.offset > 0 ? `Showing the last ${fmtBytes(res.size - res.offset)} of ${fmtBytes(res.size)}.` : '';
    let offset = res.next != null ? res.next : res.size;
    const start = () => {
      stopLog();
      logStream = new EventSource(url(`${base}/log/stream`, { offset }));
      logStream.addEventListener('chunk', (e) => {
        const d = JSON.parse(e.data);
        if (pre.querySelector('.muted')) pre.textContent = '';
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(d.text);
        offset = d.offset + d.text.length;
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      });
      logStream.addEventListener('eof', () => {
        stopLog();
        follow.checked = false;
      });
    };
    follow.addEventListener('change', () => (follow.checked ? start() : stopLog()));
    pre.scrollTop = pre.scrollHeight;
    if (follow.checked) start();
  }

  function attempts(exs) {
    if (!exs.length) return empty('No attempt yet: the step has not started.');
    return h('ol.attempts', { reversed: true }, [...exs].reverse().map((x) => h('li.attempt', { dataset: { state: x.state } },
      h('div.attempt-head', null, h('strong', null, `Attempt ${x.attempt}`), ' ', badge(x.state),
        h('span.muted', null, ` ${fmtTime(x.started_at)} · ${fmtDur(duration(x))}`)),
      x.error ? h('pre.errtext', null, x.error) : null,
      facts([['Plugin', x.plugin || '–'], x.cache_key ? ['Cache key', h('code', { title: x.cache_key }, shortDigest(x.cache_key))] : null,
        x.external_id ? ['External id', x.external_id] : null]))));
  }

  function params(s) {
    return h('div', null,
      s.needs && s.needs.length ? facts([['Needs', s.needs.join(', ')]]) : null,
      h('h3', null, 'with'),
      s.with && Object.keys(s.with).length ? jsonBlock(s.with) : empty('No parameters (the plugin\'s defaults).'));
  }

  function io(exs) {
    const x = [...exs].reverse().find((e) => Object.keys(e.outputs || {}).length || Object.keys(e.inputs || {}).length);
    if (!x) return empty('No inputs or outputs recorded yet.');
    const rows = (m) => Object.entries(m || {}).map(([role, a]) => h('tr', { dataset: { digest: a.digest } },
      h('td', null, role), h('td', null, a.kind),
      h('td', null, h('a', { href: `/artifacts/${enc(a.digest)}`, title: a.digest }, h('code', null, shortDigest(a.digest)))),
      h('td.num', null, fmtBytes(a.size)),
      h('td', null, h('a', { href: url('/lineage', { ref: a.digest, direction: 'upstream' }) }, 'lineage'))));
    const section = (title, m) => [h('h3', null, title), Object.keys(m || {}).length
      ? table(['Role', 'Kind', 'Digest', 'Size', ''], rows(m)) : empty('None.')];
    return h('div', null, h('p.muted', null, `Attempt ${x.attempt} (${x.state})`), section('Inputs', x.inputs), section('Outputs', x.outputs));
  }

  function metrics(exs) {
    const x = [...exs].reverse().find((e) => Object.keys(e.metrics || {}).length);
    if (!x) return empty(['running', 'pending'].includes(detail.step.state)
      ? 'No metrics yet: they are recorded when the step ends.' : 'This step reported no metrics.');
    const single = [];
    const out = h('div.metrics');
    for (const [k, pts] of Object.entries(x.metrics).sort()) {
      const { time, xy } = toXY(pts);
      if (xy.length > 1) {
        const c = lineChart([{ label: k, points: xy }], { title: k, time, xLabel: time ? 'time' : 'step', width: 420, height: 160 });
        charts.push(c);
        out.append(c.el);
      } else single.push(h('tr', null, h('th', { scope: 'row' }, k), h('td.num', null, fmtNum(last(pts)))));
    }
    if (single.length) out.prepend(table(['Metric', 'Value'], single, { class: 'grid compact' }));
    return out;
  }

  load();
  return {
    el,
    name,
    refresh: load,
    async setTab(t) {
      tab = t;
      renderHead();
      await renderTab();
    },
    destroy() {
      stopLog();
      charts.forEach((c) => c.destroy());
    },
  };
}
