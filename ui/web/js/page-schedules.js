// Schedules: the cron and watch entries of the pipelines folder, their next fire time and the
// last runs they started.
import { get, url } from './api.js';
import { h, clear, badge, empty, table, fmtTime, fmtAgo } from './dom.js';

export async function mount(main, ctx) {
  document.title = 'Schedules · llmops';
  const res = await get('/api/schedules', ctx.signal);
  const list = res.schedules || [];
  clear(main, h('div.page-head', null, h('h1', null, 'Schedules')),
    h('p.hint', null, 'Entries of the pipelines folder (`schedule:` blocks). They fire while `llmops scheduler` runs on that folder.'),
    list.length ? table(['Schedule', 'Kind', 'Pipeline', 'When', 'Next fire', 'Last run', 'Recent runs'], list.map(row), { id: 'schedules' })
      : empty('No schedules: add a `schedule:` block (cron or watch) to a pipeline in the pipelines folder.'));
}

function when(s) {
  if (s.kind === 'cron') return h('span', null, h('code', null, s.cron || '–'), s.timezone ? h('span.muted', null, ` ${s.timezone}`) : null);
  const w = s.watch || {};
  const globs = [].concat(w.glob || s.glob || []);
  return h('span', null, 'on change of ', globs.length ? globs.map((g, i) => [i ? ', ' : '', h('code', null, g)]) : h('code', null, '?'),
    w.poll ? h('span.muted', null, ` (every ${w.poll} s)`) : null);
}

// The next fire time: unix seconds (next_fire) or {local, utc} (as `llmops schedule list`).
function next(s) {
  if (typeof s.next_fire === 'number') return h('time', { title: fmtTime(s.next_fire) }, `${fmtTime(s.next_fire)} (${fmtAgo(s.next_fire)})`);
  const n = s.next || s.next_fire;
  if (n && n.utc) {
    const t = Date.parse(n.utc) / 1000;
    return h('time', { datetime: n.utc, title: `${n.local} local to ${s.timezone || 'UTC'}` }, `${fmtTime(t)} (${fmtAgo(t)})`);
  }
  return s.kind === 'watch' ? 'when the files change' : '–';
}

function row(s) {
  const name = s.name || s.schedule;
  return h('tr', { dataset: { schedule: name, kind: s.kind } },
    h('td', null, h('strong', null, name), s.state === 'suspended' ? h('span.muted', null, ' (suspended)') : null),
    h('td', null, s.kind),
    h('td', null, h('a', { href: url('/runs', { pipeline: s.pipeline }), title: s.file || '' }, s.pipeline || '–')),
    h('td', null, when(s)),
    h('td', null, next(s)),
    h('td', null, s.last_run != null ? h('a', { href: `/runs/${s.last_run}` }, `#${s.last_run}`) : '–'),
    h('td', null, (s.runs || []).length ? h('span.runlist', null, s.runs.slice(0, 5).map((r) => h('a', { href: `/runs/${r.id}`, class: 'runchip', title: `run ${r.id}: ${r.state}` }, `#${r.id} `, badge(r.state))))
      : h('span.muted', null, 'none yet')));
}
