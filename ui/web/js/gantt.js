// The timeline (Gantt): one row per step, one bar per attempt from /api/runs/ID/attempts, drawn
// on a canvas that only paints the rows in view. Failed attempts are red and labelled; a click
// on a bar opens the step's attempts.
import { h, fmtDur, empty } from './dom.js';
import { stateColours } from './dag-canvas.js';

const ROWH = 24;
const LABEL = 200;
const AXIS = 26;

export function gantt(attempts, { onOpen }) {
  const colours = stateColours();
  const now = Date.now() / 1000;
  const rows = new Map(); // step -> [attempt...]
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const a of attempts) {
    if (!a.started_at) continue;
    if (!rows.has(a.step)) rows.set(a.step, []);
    rows.get(a.step).push(a);
    t0 = Math.min(t0, a.started_at);
    t1 = Math.max(t1, a.ended_at || now);
  }
  const names = [...rows.keys()].sort((a, b) => rows.get(a)[0].started_at - rows.get(b)[0].started_at);
  const failed = attempts.filter((a) => a.state === 'failed').length;
  const canvas = h('canvas', { role: 'img', tabindex: '0', dataset: { bars: attempts.length, failed },
    'aria-label': `Timeline of ${attempts.length} attempts of ${names.length} steps, ${failed} failed` });
  const tip = h('div.canvas-tip', { role: 'status', 'aria-live': 'polite' });
  const spacer = h('div.gantt-spacer');
  const scroller = h('div.gantt-scroll', null, h('div.gantt-sticky', null, canvas), spacer);
  const el = h('div.gantt', { id: 'gantt' },
    h('p.hint', null, `${attempts.length} attempts of ${names.length} steps`, failed ? `, ${failed} failed (red)` : '',
      `; ${fmtDur(t1 - t0)} in all. Click a bar for its attempts.`),
    names.length ? scroller : empty('No attempt has started yet.'), tip);
  if (!names.length) return { el, destroy() {} };
  scroller.style.height = `${Math.min(560, AXIS + names.length * ROWH + 8)}px`;
  const span = Math.max(t1 - t0, 1e-3);
  let frame = 0;

  function geometry() {
    const w = Math.max(400, scroller.clientWidth);
    return { w, hgt: Math.min(scroller.clientHeight || 560, AXIS + names.length * ROWH + 8), scale: (w - LABEL - 16) / span };
  }

  function draw() {
    frame = 0;
    const { w, hgt, scale } = geometry();
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== w * dpr || canvas.height !== hgt * dpr) {
      canvas.width = w * dpr;
      canvas.height = hgt * dpr;
      canvas.style.width = `${w}px`;
      canvas.style.height = `${hgt}px`;
    }
    spacer.style.height = `${Math.max(0, AXIS + names.length * ROWH + 8 - hgt)}px`;
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, hgt);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const first = Math.floor(scroller.scrollTop / ROWH);
    const count = Math.ceil(hgt / ROWH) + 1;
    for (let r = first; r < Math.min(names.length, first + count); r++) {
      const y = AXIS + (r - first) * ROWH - (scroller.scrollTop % ROWH);
      if (r % 2) {
        ctx.fillStyle = '#f8fafc';
        ctx.fillRect(0, y, w, ROWH);
      }
      ctx.fillStyle = '#1f2937';
      const n = names[r];
      ctx.fillText(n.length > 26 ? n.slice(0, 25) + '…' : n, 8, y + ROWH / 2);
      for (const a of rows.get(n)) {
        const x = LABEL + (a.started_at - t0) * scale;
        const bw = Math.max(2, ((a.ended_at || now) - a.started_at) * scale);
        const c = colours[a.state] || colours.pending;
        ctx.fillStyle = c.fg;
        ctx.fillRect(x, y + 4, bw, ROWH - 8);
        if (bw > 60) {
          ctx.fillStyle = '#fff';
          ctx.fillText(`#${a.attempt} ${a.state}`, x + 4, y + ROWH / 2);
        } else if (a.state === 'failed') {
          const label = `#${a.attempt} failed`;
          const tw = ctx.measureText(label).width;
          ctx.fillStyle = c.fg;
          ctx.fillText(label, x + bw + 4 + tw < w ? x + bw + 4 : x - tw - 4, y + ROWH / 2);
        }
      }
    }
    // The time axis, on top of the rows.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, AXIS);
    ctx.strokeStyle = '#cbd5e1';
    ctx.fillStyle = '#475569';
    ctx.beginPath();
    const ticks = 6;
    for (let k = 0; k <= ticks; k++) {
      const x = LABEL + ((w - LABEL - 16) * k) / ticks;
      ctx.moveTo(x, AXIS - 4);
      ctx.lineTo(x, hgt);
      const label = `+${fmtDur((span * k) / ticks)}`;
      ctx.fillText(label, k === ticks ? x - ctx.measureText(label).width - 2 : x + 2, 12);
    }
    ctx.globalAlpha = 0.25;
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  function hit(ev) {
    const r = canvas.getBoundingClientRect();
    const y = ev.clientY - r.top - AXIS + (scroller.scrollTop % ROWH);
    if (y < 0) return null;
    const row = Math.floor(scroller.scrollTop / ROWH) + Math.floor(y / ROWH);
    const n = names[row];
    if (!n) return null;
    const { scale } = geometry();
    const t = t0 + (ev.clientX - r.left - LABEL) / scale;
    const a = rows.get(n).find((x) => t >= x.started_at - 2 / scale && t <= (x.ended_at || now) + 2 / scale);
    return { step: n, attempt: a };
  }

  const redraw = () => { if (!frame) frame = requestAnimationFrame(draw); };
  scroller.addEventListener('scroll', redraw);
  canvas.addEventListener('pointermove', (e) => {
    const x = hit(e);
    const a = x && x.attempt;
    canvas.style.cursor = x ? 'pointer' : 'default';
    tip.textContent = a ? `${x.step} attempt ${a.attempt}: ${a.state}, ${fmtDur((a.ended_at || now) - a.started_at)}${a.error ? ' – ' + a.error : ''}` : '';
  });
  canvas.addEventListener('click', (e) => {
    const x = hit(e);
    if (x) onOpen(x.step);
  });
  const ro = new ResizeObserver(redraw);
  ro.observe(scroller);
  return { el, draw, destroy() { ro.disconnect(); cancelAnimationFrame(frame); } };
}
