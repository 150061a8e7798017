// Line charts with uPlot (window.uPlot from /vendor/uPlot.iife.min.js). Series with different x
// values share one x axis (their union; gaps are spanned). The element carries data-points (the
// number of points drawn) and data-series, which the tests read.
import { h, fmtNum } from './dom.js';

export const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#4b5563'];

// series: [{label, points: [[x, y], ...]}]; opts: {title, xLabel, yLabel, time, width, height}
export function lineChart(series, opts = {}) {
  const total = series.reduce((n, s) => n + s.points.length, 0);
  const el = h('div.chart', { dataset: { points: total, series: series.length }, role: 'figure',
    'aria-label': `${opts.title || 'Chart'}: ${series.map((s) => `${s.label} (${s.points.length} points)`).join(', ')}` });
  if (opts.title) el.append(h('div.chart-title', null, opts.title));
  if (!window.uPlot) {
    el.append(h('p.empty', null, 'The chart library (/vendor/uPlot.iife.min.js) did not load; values:'),
      h('ul', null, series.map((s) => h('li', null, `${s.label}: ${s.points.map((p) => fmtNum(p[1])).join(', ')}`))));
    return { el, destroy() {} };
  }
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const data = [xs, ...series.map((s) => {
    const ys = new Array(xs.length).fill(null);
    for (const [x, y] of s.points) ys[at.get(x)] = y;
    return ys;
  })];
  const single = xs.length === 1;
  const plot = new window.uPlot({
    width: opts.width || 480,
    height: opts.height || 220,
    scales: { x: { time: !!opts.time } },
    legend: { show: true },
    cursor: { drag: { x: true, y: false } },
    axes: [
      { label: opts.xLabel, stroke: '#374151', grid: { stroke: '#e5e7eb' } },
      { label: opts.yLabel, stroke: '#374151', grid: { stroke: '#e5e7eb' }, size: 60,
        values: (u, vals) => vals.map(fmtNum) },
    ],
    series: [
      { label: opts.time ? 'time' : (opts.xLabel || 'step') },
      ...series.map((s, i) => ({
        label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
        points: { show: single || s.points.length < 40, size: 5 },
        value: (u, v) => fmtNum(v),
      })),
    ],
  }, data, el);
  // Follow the width of the container.
  const ro = new ResizeObserver(() => {
    const w = Math.floor(el.clientWidth);
    if (w > 100 && Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: opts.height || 220 });
  });
  ro.observe(el);
  return { el, plot, destroy() { ro.disconnect(); plot.destroy(); } };
}

// The metric points of the API ([step, value, time] or {step, value, time}) as [x, y] pairs:
// x is the metric step, or the time when no point has a step (-1).
export function toXY(points) {
  const norm = points.map((p) => (Array.isArray(p) ? { step: p[0], value: p[1], time: p[2] } : p));
  const byTime = norm.every((p) => p.step == null || p.step < 0);
  const keep = norm.filter((p) => p.value != null && (byTime || p.step >= 0));
  return { time: byTime, xy: keep.map((p) => [byTime ? p.time : p.step, p.value]) };
}
