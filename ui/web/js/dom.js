// Small DOM and formatting helpers shared by every page. No framework: h() builds elements.

export const STATES = ['pending', 'running', 'succeeded', 'failed', 'cached', 'skipped', 'cancelled'];
export const RUN_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
export const TRIGGERS = ['manual', 'cron', 'watch', 'feedback', 'resume'];

// h('a.link', {href: '/runs'}, 'text', child...): attributes starting with "on" become listeners,
// `dataset` and `style` objects are merged, null/false children are skipped.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = name === 'svg' || SVG_TAGS.has(name)
    ? document.createElementNS('http://www.w3.org/2000/svg', name)
    : document.createElement(name || 'div');
  if (classes.length) el.setAttribute('class', classes.join(' '));
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'class') el.setAttribute('class', [el.getAttribute('class'), v].filter(Boolean).join(' '));
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}
const SVG_TAGS = new Set(['g', 'rect', 'path', 'text', 'line', 'circle', 'title', 'defs', 'marker', 'polyline', 'tspan']);

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A state badge: colour AND text (never colour alone).
export function badge(state, extra) {
  return h('span.badge', { class: `st-${state || 'unknown'}`, dataset: { state: state || '' } },
    h('span.dot', { 'aria-hidden': 'true' }), state || 'unknown', extra ? ` ${extra}` : null);
}

export function errorBox(err) {
  const code = err && err.code ? err.code : 'internal';
  const msg = err && err.message ? err.message : String(err);
  return h('div.error', { role: 'alert', dataset: { errorCode: code } },
    h('strong', null, errorTitle(code)), ' ', msg);
}

function errorTitle(code) {
  return {
    no_store: 'No store.', schema_too_new: 'Store too new.', schema_too_old: 'Store too old.',
    no_such_run: 'Not found.', no_such_step: 'Not found.', no_such_artifact: 'Not found.',
    no_such_deployment: 'Not found.', no_route: 'Not found.', bad_query: 'Bad query.',
    read_only: 'Read-only.', unauthorized: 'Unauthorized.', too_large: 'Too large.',
  }[code] || 'Error.';
}

export const loading = (what = 'Loading…') => h('p.loading', { role: 'status' }, what);
export const empty = (what) => h('p.empty', null, what);

// Times are unix seconds (float); 0 or null means unknown.
export function fmtTime(t) {
  if (!t) return '–';
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtAgo(t) {
  if (!t) return '–';
  const s = Date.now() / 1000 - t;
  if (s < 0) return 'in ' + fmtDur(-s);
  if (s < 60) return 'just now';
  return fmtDur(s) + ' ago';
}

export function fmtDur(s) {
  if (s == null || !isFinite(s) || s < 0) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

// Duration of something with started_at/ended_at; running things count up to now.
export function duration(o) {
  if (!o || !o.started_at) return null;
  const end = o.ended_at || (o.state === 'running' ? Date.now() / 1000 : 0);
  return end ? end - o.started_at : null;
}

export function fmtBytes(n) {
  if (n == null) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function fmtNum(v) {
  if (v == null) return '–';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(+v.toPrecision(4));
}

export const shortDigest = (d) => (d ? String(d).replace(/^sha256:/, '').slice(0, 12) : '–');

export function timeCell(t) {
  return h('time', { datetime: t ? new Date(t * 1000).toISOString() : null, title: fmtTime(t) }, fmtAgo(t));
}

// Pretty JSON for params, metadata, reports.
export function jsonBlock(v) {
  return h('pre.json', null, JSON.stringify(v, null, 2));
}

// A definition list from [label, value] pairs.
export function facts(pairs) {
  return h('dl.facts', null, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

// A row of small label-over-value figures (a run's header).
export function stats(pairs) {
  return h('div.stats', null, pairs.filter(Boolean).map(([k, v]) => h('div.stat', null, h('span.k', null, k), h('span.v', null, v))));
}

// A <label for> + control pair.
export function field(label, control) {
  const id = control.id || (control.id = 'f-' + Math.random().toString(36).slice(2, 8));
  return h('div.field', null, h('label', { for: id }, label), control);
}

export function select(id, options, value, onchange) {
  return h('select', { id, onchange },
    options.map(([v, text]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, text)));
}

export function table(headers, rows, attrs) {
  return h('table.grid', attrs, h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, rows));
}
