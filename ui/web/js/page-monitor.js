// Monitor reports: drift or not, the figures (PSI, JS, unseen vocabulary, unknown intents, ...)
// against their thresholds, the reasons, and the feedback runs the report started.
import { get, url, enc } from './api.js';
import { h, clear, empty, table, fmtNum, timeCell } from './dom.js';

const KEY_FIGURES = ['psi_unigram', 'psi_bigram', 'js_unigram', 'js_bigram', 'oov_rate', 'unknown_intent_rate',
  'tool_call_invalid_rate', 'refusal_rate_increase', 'response_length_ratio', 'error_rate', 'latency_p99_ms'];

export async function mount(main, ctx) {
  document.title = 'Monitor · llmops';
  const res = await get(url('/api/monitor/reports', { limit: 20 }), ctx.signal);
  const list = res.reports || [];
  clear(main, h('div.page-head', null, h('h1', null, 'Monitor reports')),
    list.length ? list.map(report) : empty('No monitor reports yet: they come from monitor/drift steps.'));
}

// The figures of report.json: values with their thresholds, and whether each crossed it.
function figures(rep) {
  const values = rep.values || {};
  const thresholds = rep.thresholds || {};
  const found = new Map((rep.findings || []).map((f) => [f.metric || f.name, f]));
  const names = Object.keys(values).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((k) => {
    const f = found.get(k);
    const th = f ? f.threshold : thresholds[k] ?? thresholds[thresholdKey(k)];
    const v = values[k];
    const over = !!f;
    return h('tr', { dataset: { figure: k, crossed: over ? '1' : '0' } },
      h('th', { scope: 'row' }, k), h('td.num', null, fmtNum(v)), h('td.num', null, th != null ? fmtNum(th) : '–'),
      h('td', { class: over ? 'fail' : 'muted' }, over ? `▲ ${f.trigger || 'crossed'}` : th != null ? 'ok' : ''));
  });
}

const rank = (k) => (KEY_FIGURES.includes(k) ? KEY_FIGURES.indexOf(k) : 100);
const thresholdKey = (k) => ({ psi_unigram: 'psi', psi_bigram: 'psi', js_unigram: 'js', js_bigram: 'js', oov_rate: 'oov',
  unknown_intent_rate: 'unknown_intent', tool_call_invalid_rate: 'tool_call_invalid', refusal_rate_increase: 'refusal_increase',
  negative_feedback_rate: 'negative_feedback' }[k] || k);

function report(r) {
  const rep = r.report || {};
  const drift = r.drift ?? rep.drift;
  const triggers = r.triggers || rep.triggers || [];
  const reasons = r.reasons || rep.reasons || [];
  const rows = figures(rep);
  return h('section.box', { dataset: { run: r.run, drift: drift ? '1' : '0' }, 'aria-label': `Report of run ${r.run}` },
    h('div.title-row', null,
      h('h2', null, h('a', { href: url(`/runs/${r.run}`, { step: r.step, tab: 'metrics' }) }, `Run #${r.run} · ${r.step}`), ` `, h('span.muted', null, r.pipeline || '')),
      drift ? h('span.badge.st-failed', null, '▲ drift') : h('span.badge.st-succeeded', null, 'no drift'),
      triggers.map((t) => h('span.badge.st-cancelled', null, `trigger: ${t}`)),
      h('span.muted', null, `${r.requests ?? rep.requests ?? '?'} requests`), timeCell(r.created_at)),
    reasons.length ? h('ul.reasons', null, reasons.map((x) => h('li', null, x))) : h('p.muted', null, 'Nothing crossed a threshold.'),
    (r.feedback_runs || []).length ? h('p', null, 'Started feedback run', r.feedback_runs.length > 1 ? 's' : '', ': ',
      r.feedback_runs.map((id, i) => [i ? ', ' : '', h('a', { href: `/runs/${id}` }, `#${id}`)])) : null,
    rows.length ? h('details', { open: true }, h('summary', null, 'Figures'), table(['Figure', 'Value', 'Threshold', ''], rows, { class: 'grid compact' })) : null,
    r.artifact ? h('p.muted', null, h('a', { href: `/artifacts/${enc(r.artifact.digest)}` }, 'the report artifact')) : null);
}
