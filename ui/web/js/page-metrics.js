// Metrics: pick runs (recent runs as checkboxes) and a metric name; one uPlot chart with a series
// per run (and step) on the same axes. Below, the evaluator's gates with value, threshold,
// pass/fail and the blessing. Query: runs=3,4&name=loss.
import { get, url } from './api.js';
import { h, clear, badge, errorBox, loading, empty, field, select, table, fmtNum, timeCell } from './dom.js';
import { setQuery } from './router.js';
import { lineChart, toXY } from './chart.js';

export async function mount(main, ctx) {
  document.title = 'Metrics · llmops';
  let q = ctx.query;
  const picker = h('fieldset.box.runpick', null, h('legend', null, 'Runs'));
  const nameSlot = h('div.filters');
  const chartSlot = h('div');
  const gatesSlot = h('section', { 'aria-label': 'Gates' });
  clear(main, h('div.page-head', null, h('h1', null, 'Metrics')),
    h('div.two', null, picker, h('div', null, nameSlot, chartSlot)), h('h2', null, 'Evaluation gates'), gatesSlot);
  let chart = null;
  const recent = await get(url('/api/runs', { limit: 30 }), ctx.signal);
  const runs = recent.runs || [];

  const selected = () => (q.runs ? q.runs.split(',').filter(Boolean) : runs.slice(0, 3).map((r) => String(r.id)));

  function renderPicker() {
    const sel = new Set(selected());
    clear(picker, h('legend', null, 'Runs to compare'), runs.length ? runs.map((r) => {
      const id = `run-${r.id}`;
      const cb = h('input', { type: 'checkbox', id, value: r.id, checked: sel.has(String(r.id)) });
      cb.addEventListener('change', () => {
        const ids = [...picker.querySelectorAll('input:checked')].map((x) => x.value);
        setQuery({ runs: ids.join(',') || 'none' });
      });
      return h('label', { for: id }, cb, `#${r.id} ${r.pipeline}`, ' ', badge(r.state));
    }) : empty('No runs yet.'));
  }

  async function renderChart() {
    if (chart) chart.destroy();
    chart = null;
    const ids = selected().filter((x) => x !== 'none');
    if (!ids.length) {
      clear(nameSlot);
      return void clear(chartSlot, empty('Choose one or more runs.'));
    }
    clear(chartSlot, loading());
    try {
      const names = (await get(url('/api/metrics/names', { runs: ids }), ctx.signal)).names || [];
      const name = q.name || (names.includes('loss') ? 'loss' : names[0]);
      const opts = names.map((n) => [n, n]);
      if (name && !names.includes(name)) opts.unshift([name, `${name} (not in these runs)`]);
      clear(nameSlot, field('Metric', select('f-metric', opts, name, (e) => setQuery({ name: e.target.value }))));
      if (!name) return void clear(chartSlot, empty('These runs have no metrics (metrics are recorded when a step ends).'));
      const res = await get(url('/api/metrics', { runs: ids, name }), ctx.signal);
      const series = (res.series || []).map((s) => ({ s, ...toXY(s.points || []) })).filter((x) => x.xy.length);
      if (!series.length) return void clear(chartSlot, empty(`No "${name}" points in these runs.`));
      const time = series.every((x) => x.time);
      const multiAttempt = new Set(series.map((x) => `${x.s.run}/${x.s.step}`)).size < series.length;
      chart = lineChart(series.filter((x) => x.time === time).map((x) => ({
        label: `#${x.s.run} ${x.s.step}${multiAttempt ? ` (attempt ${x.s.attempt})` : ''}`, points: x.xy,
      })), { title: name, time, xLabel: time ? 'time' : 'step', width: Math.max(400, chartSlot.clientWidth - 20), height: 320 });
      chart.el.id = 'metric-chart';
      clear(chartSlot, chart.el);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      clear(chartSlot, errorBox(e));
    }
  }

  async function renderGates() {
    clear(gatesSlot, loading());
    try {
      const res = await get(url('/api/gates', { limit: 20 }), ctx.signal);
      const list = res.gates || [];
      if (!list.length) return void clear(gatesSlot, empty('No evaluation yet: gates appear once an evaluator step has run.'));
      clear(gatesSlot, list.map(gateBox));
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      clear(gatesSlot, errorBox(e));
    }
  }

  renderPicker();
  await Promise.all([renderChart(), renderGates()]);
  return {
    async update(nq) {
      const runsChanged = nq.runs !== q.runs;
      q = nq;
      if (runsChanged) renderPicker();
      await renderChart();
      return true;
    },
    destroy() { if (chart) chart.destroy(); },
  };
}

function condition(g) {
  if (g.op != null) return `${g.op} ${fmtNum(g.threshold)}`;
  if (g.min_delta != null) {
    return `improvement ≥ ${fmtNum(g.min_delta)} over baseline ${fmtNum(g.baseline)}${g.direction ? ` (${g.direction} is better)` : ''}`;
  }
  return g.condition || '–';
}

function gateBox(e) {
  const verdicts = { pass: 'passed', fail: 'failed', skip: 'skipped' };
  const status = (g) => g.status || verdicts[g.verdict] || g.verdict || (g.passed === true ? 'passed' : g.passed === false ? 'failed' : 'skipped');
  return h('div.box', { dataset: { run: e.run, blessed: e.blessed ? '1' : '0' } },
    h('div.title-row', null, h('h2.box-title', null, h('a', { href: url(`/runs/${e.run}`, { step: e.step, tab: 'metrics' }) }, `Run #${e.run} · ${e.step}`), ` ${e.pipeline || ''}`),
      e.blessed ? h('span.badge.st-succeeded', null, '✓ blessed') : h('span.badge.st-failed', null, '✗ not blessed'),
      h('span.muted', null, `${e.gates_passed || 0} passed, ${e.gates_failed || 0} failed, ${e.gates_skipped || 0} skipped`), timeCell(e.created_at)),
    (e.gates || []).length ? table(['Gate', 'Metric', 'Value', 'Condition', 'Result', 'Reason'], e.gates.map((g) => {
      const st = status(g);
      return h('tr', { dataset: { gate: g.name || g.gate, status: st } },
        h('td', null, h('code', null, g.name || g.gate || '–')), h('td', null, g.metric || '–'),
        h('td.num', null, fmtNum(g.value ?? g.delta)), h('td', null, condition(g)),
        h('td', { class: st === 'passed' ? 'pass' : st === 'failed' ? 'fail' : 'muted' }, st === 'passed' ? '✓ pass' : st === 'failed' ? '✗ fail' : st),
        h('td.muted', null, g.reason || ''));
    }), { class: 'grid compact' }) : empty('No gates were configured.'));
}
