// One artifact: metadata, the step that produced it, the steps that used it, a preview of small
// text/JSON files, and links to its lineage.
import { get, url, enc } from './api.js';
import { h, clear, empty, facts, table, jsonBlock, fmtTime, fmtBytes } from './dom.js';

export async function mount(main, ctx) {
  const res = await get(`/api/artifacts/${enc(ctx.params.digest)}`, ctx.signal);
  const a = res.artifact;
  document.title = `${a.kind} ${a.name} · llmops`;
  const p = res.producer;
  const lineage = (d) => h('a', { href: url('/lineage', { ref: a.digest, direction: d }) }, d);
  const meta = a.metadata && Object.keys(a.metadata).length ? jsonBlock(a.metadata) : empty('No metadata.');
  let preview;
  const pv = res.preview;
  if (pv && pv.binary) {
    preview = empty(`No preview: ${pv.file} is not text.`);
  } else if (pv) {
    const shown = new Blob([pv.text || '']).size;
    preview = [h('p.muted', null, h('code', null, pv.file || ''), pv.truncated
      ? ` — too big to show whole: showing the first ${fmtBytes(shown)}${pv.size ? ` of ${fmtBytes(pv.size)}` : ''}.` : ''),
    h('pre.preview', { tabindex: '0', 'aria-label': 'Preview' }, pv.text)];
  } else {
    preview = empty(`No preview: only small text and JSON files are shown (this one is ${fmtBytes(a.size)}). Its file is at ${a.uri || 'an unknown path'}.`);
  }
  clear(main,
    h('div.page-head', null, h('h1', null, `Artifact `, h('span.muted', null, `${a.kind}/${a.name}`))),
    h('div.box', null, facts([
      ['Digest', h('code', null, a.digest)],
      ['Kind', a.kind], ['Name', a.name], ['Size', fmtBytes(a.size)], ['Created', fmtTime(a.created_at)],
      ['Path', h('code', null, a.uri || '–')],
      ['Produced by', p ? h('a', { href: url(`/runs/${p.run}`, { step: p.step, tab: 'io' }) }, `run #${p.run}, step ${p.step}`) : 'nothing recorded (an input from outside)'],
      ['Lineage', h('span', null, lineage('upstream'), ' · ', lineage('downstream'))],
    ])),
    h('h3', null, 'Used by'),
    (res.consumers || []).length
      ? table(['Run', 'Step', 'As input'], res.consumers.map((c) => h('tr', null,
        h('td', null, h('a', { href: `/runs/${c.run}` }, `#${c.run}`)),
        h('td', null, h('a', { href: url(`/runs/${c.run}`, { step: c.step, tab: 'io' }) }, c.step)),
        h('td', null, c.role || '–'))))
      : empty('No step has used it yet.'),
    h('h3', null, 'Metadata'), meta,
    h('h3', null, 'Preview'), preview);
}
