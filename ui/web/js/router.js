// The client router: history.pushState, deep links for every page, filters in the query string.
// A page module exports mount(main, ctx) -> {update?(query), destroy?()}; update returning true
// means the page applied a query change in place (e.g. selecting a step) without a re-render.
import { clear, errorBox, loading } from './dom.js';

const ROUTES = [
  [/^\/(?:runs\/?)?$/, 'runs', []],
  [/^\/runs\/([^/]+)\/?$/, 'run', ['id']],
  [/^\/metrics\/?$/, 'metrics', []],
  [/^\/lineage\/?$/, 'lineage', []],
  [/^\/artifacts\/([^/]+)\/?$/, 'artifact', ['digest']],
  [/^\/deployments\/?$/, 'deployments', []],
  [/^\/deployments\/([^/]+)\/?$/, 'deployment', ['name']],
  [/^\/schedules\/?$/, 'schedules', []],
  [/^\/monitor\/?$/, 'monitor', []],
];

const MODULES = {
  runs: () => import('./page-runs.js'),
  run: () => import('./page-run.js'),
  metrics: () => import('./page-metrics.js'),
  lineage: () => import('./page-lineage.js'),
  artifact: () => import('./page-artifact.js'),
  deployments: () => import('./page-deployments.js'),
  deployment: () => import('./page-deployments.js'),
  schedules: () => import('./page-schedules.js'),
  monitor: () => import('./page-monitor.js'),
};

let current = null; // {key, page, ctrl, abort}
let seq = 0;
const main = () => document.getElementById('main');

function match(pathname) {
  for (const [re, name, keys] of ROUTES) {
    const m = re.exec(pathname);
    if (!m) continue;
    const params = {};
    keys.forEach((k, i) => {
      try {
        params[k] = decodeURIComponent(m[i + 1]);
      } catch {
        params[k] = m[i + 1];
      }
    });
    return { name, params };
  }
  return null;
}

export function query() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

export function navigate(href, opts = {}) {
  const u = new URL(href, location.href);
  if (u.origin !== location.origin) return void (location.href = href);
  if (u.pathname + u.search === location.pathname + location.search && !opts.force) return;
  history[opts.replace ? 'replaceState' : 'pushState'](null, '', u.pathname + u.search + u.hash);
  route();
}

// Merges `changes` into the current query string (null removes a key) and navigates.
export function setQuery(changes, opts = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ''), opts);
}

async function route() {
  const my = ++seq;
  document.body.dataset.ready = '0';
  const m = match(location.pathname);
  highlightNav(m ? m.name : '');
  const key = m ? m.name + JSON.stringify(m.params) : 'none';
  try {
    if (current && current.key === key && current.ctrl && current.ctrl.update) {
      if (await current.ctrl.update(query())) return done(my);
    }
    if (current) {
      current.abort.abort();
      if (current.ctrl && current.ctrl.destroy) current.ctrl.destroy();
      current = null;
    }
    const el = main();
    if (!m) {
      clear(el, errorBox({ code: 'no_route', message: `There is no page at ${location.pathname}. Start from the runs list.` }));
      document.title = 'Not found · llmops';
      return done(my);
    }
    clear(el, loading());
    const abort = new AbortController();
    current = { key, abort, ctrl: null };
    const mod = await MODULES[m.name]();
    const ctrl = await mod.mount(el, { name: m.name, params: m.params, query: query(), signal: abort.signal });
    if (my !== seq) {
      if (ctrl && ctrl.destroy) ctrl.destroy();
      return;
    }
    current.ctrl = ctrl || null;
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (my === seq) clear(main(), errorBox(e));
  }
  done(my);
}

function done(my) {
  if (my === seq) document.body.dataset.ready = '1';
}

function highlightNav(name) {
  const section = { run: 'runs', artifact: 'lineage', deployment: 'deployments' }[name] || name;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

export function start() {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const u = new URL(a.href, location.href);
    if (u.origin !== location.origin || u.pathname.startsWith('/api/')) return;
    e.preventDefault();
    navigate(u.pathname + u.search + u.hash);
  });
  window.addEventListener('popstate', route);
  route();
}
