// The run DAG for big runs (layout "layers"): the server gives each step a column (level) and a
// row (order); this draws only the part in view on a <canvas>, with pan (drag, arrows), zoom
// (wheel, +/-, 0 fits) and hit-testing (click or Enter on the step under the cursor).
import { h } from './dom.js';
import { legend } from './dag-svg.js';

const COLW = 210;
const ROWH = 40;
const NW = 180;
const NH = 30;

export function stateColours() {
  const cs = getComputedStyle(document.documentElement);
  const c = {};
  for (const s of ['pending', 'running', 'succeeded', 'failed', 'cached', 'skipped', 'cancelled']) {
    c[s] = { fg: cs.getPropertyValue(`--${s}`).trim() || '#666', bg: cs.getPropertyValue(`--${s}-bg`).trim() || '#eee' };
  }
  return c;
}

export function dagCanvas(steps, edges, { onOpen, selected }) {
  // grid[level][order] = step index; preds[i] = indices of the steps i needs.
  const grid = [];
  let maxOrder = 0;
  steps.forEach((s, i) => {
    const l = s.level || 0;
    const o = s.order || 0;
    (grid[l] = grid[l] || [])[o] = i;
    if (o > maxOrder) maxOrder = o;
  });
  const preds = steps.map(() => []);
  for (const [a, b] of edges) preds[b].push(a);
  const worldW = grid.length * COLW;
  const worldH = (maxOrder + 1) * ROWH;

  const canvas = h('canvas', { tabindex: '0', role: 'img',
    'aria-label': `Graph of ${steps.length} steps in ${grid.length} columns, drawn on a canvas. Drag or use the arrow keys to pan, the wheel or +/- to zoom; the Steps tab lists them.` });
  const tip = h('div.canvas-tip', { role: 'status', 'aria-live': 'polite' });
  const button = (label, fn) => h('button.secondary', { type: 'button', onclick: fn }, label);
  const centre = () => [canvas.clientWidth / 2, canvas.clientHeight / 2];
  const el = h('div.dag-canvas', { id: 'dag', dataset: { steps: steps.length } },
    h('div.canvas-bar', null,
      h('p.hint', null, `${steps.length.toLocaleString('en-US')} steps in ${grid.length} columns: drag to pan, wheel to zoom, click a step to open it.`),
      button('Zoom in', () => zoom(1.25, ...centre())), button('Zoom out', () => zoom(0.8, ...centre())),
      button('Fit all', () => { fit(); redraw(); })),
    h('div.canvas-wrap', null, canvas, tip), legend());
  const colours = stateColours();
  let view = { s: 1, x: 0, y: 0 };
  let fitted = false;
  let frame = 0;
  let hover = -1;

  function size() {
    const r = canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, Math.floor(r.width));
    const hgt = Math.max(240, Math.floor(r.height));
    if (canvas.width !== w * dpr || canvas.height !== hgt * dpr) {
      canvas.width = w * dpr;
      canvas.height = hgt * dpr;
      canvas.style.width = w + 'px';
      canvas.style.height = hgt + 'px';
    }
    if (!fitted) { // start readable at the first columns; "Fit all" shows the whole run
      view = { s: 0.75, x: 10, y: 10 };
      fitted = true;
    }
    return { w, h: hgt, dpr };
  }

  function fit() {
    const w = canvas.width / (window.devicePixelRatio || 1);
    const hgt = canvas.height / (window.devicePixelRatio || 1);
    const s = Math.min(1, Math.max(0.02, Math.min(w / (worldW + 20), hgt / (worldH + 20))));
    view = { s, x: 10 * s, y: 10 * s };
    fitted = true;
  }

  function draw() {
    frame = 0;
    const { w, h: hgt, dpr } = size();
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, hgt);
    ctx.setTransform(dpr * view.s, 0, 0, dpr * view.s, dpr * view.x, dpr * view.y);
    const x0 = -view.x / view.s;
    const y0 = -view.y / view.s;
    const l0 = Math.max(0, Math.floor(x0 / COLW) - 1);
    const l1 = Math.min(grid.length - 1, Math.ceil((x0 + w / view.s) / COLW));
    const o0 = Math.max(0, Math.floor(y0 / ROWH) - 1);
    const o1 = Math.min(maxOrder, Math.ceil((y0 + hgt / view.s) / ROWH));
    const visible = (l1 - l0 + 1) * (o1 - o0 + 1);
    if (visible < 3000) { // edges only when they can be told apart
      ctx.strokeStyle = '#9aa5b1';
      ctx.lineWidth = 1 / Math.max(view.s, 0.5);
      ctx.beginPath();
      for (let l = l0; l <= l1 + 1 && l < grid.length; l++) {
        for (let o = o0; o <= o1; o++) {
          const i = grid[l] && grid[l][o];
          if (i == null) continue;
          for (const p of preds[i]) {
            const ps = steps[p];
            ctx.moveTo((ps.level || 0) * COLW + NW, (ps.order || 0) * ROWH + NH / 2);
            ctx.lineTo(l * COLW, o * ROWH + NH / 2);
          }
        }
      }
      ctx.stroke();
    }
    const text = view.s >= 0.45;
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let l = l0; l <= l1; l++) {
      const col = grid[l];
      if (!col) continue;
      for (let o = o0; o <= o1; o++) {
        const i = col[o];
        if (i == null) continue;
        const s = steps[i];
        const c = colours[s.state] || colours.pending;
        const x = l * COLW;
        const y = o * ROWH;
        ctx.fillStyle = c.bg;
        ctx.fillRect(x, y, NW, NH);
        ctx.fillStyle = c.fg;
        ctx.fillRect(x, y, text ? 5 : NW / 3, NH);
        if (s.name === selected || i === hover) {
          ctx.strokeStyle = '#111827';
          ctx.lineWidth = 2 / view.s;
          ctx.strokeRect(x, y, NW, NH);
        }
        if (text) {
          ctx.fillStyle = '#111827';
          ctx.fillText(s.name.length > 16 ? s.name.slice(0, 15) + '…' : s.name, x + 10, y + NH / 2);
          ctx.fillStyle = c.fg;
          ctx.fillText(s.state, x + NW - 64, y + NH / 2);
        }
      }
    }
  }

  const redraw = () => { if (!frame) frame = requestAnimationFrame(draw); };

  function stepAt(ev) {
    const r = canvas.getBoundingClientRect();
    const wx = (ev.clientX - r.left - view.x) / view.s;
    const wy = (ev.clientY - r.top - view.y) / view.s;
    const l = Math.floor(wx / COLW);
    const o = Math.floor(wy / ROWH);
    if (wx - l * COLW > NW || wy - o * ROWH > NH || l < 0 || o < 0) return -1;
    const i = grid[l] && grid[l][o];
    return i == null ? -1 : i;
  }

  function zoom(f, cx, cy) {
    const s = Math.min(2, Math.max(0.02, view.s * f));
    view.x = cx - ((cx - view.x) * s) / view.s;
    view.y = cy - ((cy - view.y) * s) / view.s;
    view.s = s;
    redraw();
  }

  let drag = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (drag) {
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      return redraw();
    }
    const i = stepAt(e);
    if (i !== hover) {
      hover = i;
      canvas.style.cursor = i >= 0 ? 'pointer' : 'grab';
      tip.textContent = i >= 0 ? `${steps[i].name}: ${steps[i].state}` : '';
      redraw();
    }
  });
  canvas.addEventListener('pointerup', (e) => {
    const wasDrag = drag && drag.moved;
    drag = null;
    if (!wasDrag) {
      const i = stepAt(e);
      if (i >= 0) onOpen(steps[i].name);
    }
  });
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  canvas.addEventListener('keydown', (e) => {
    const step = 60;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) {
      view.x += moves[e.key][0];
      view.y += moves[e.key][1];
      redraw();
    } else if (e.key === '+' || e.key === '=') zoom(1.25, canvas.clientWidth / 2, canvas.clientHeight / 2);
    else if (e.key === '-') zoom(0.8, canvas.clientWidth / 2, canvas.clientHeight / 2);
    else if (e.key === '0') { fit(); redraw(); }
    else if (e.key === 'Enter' && hover >= 0) onOpen(steps[hover].name);
    else return;
    e.preventDefault();
  });
  const ro = new ResizeObserver(redraw);
  ro.observe(el);

  return {
    el,
    updateStep: redraw,
    select(name) {
      selected = name;
      redraw();
    },
    draw,
    destroy() {
      ro.disconnect();
      cancelAnimationFrame(frame);
    },
  };
}
