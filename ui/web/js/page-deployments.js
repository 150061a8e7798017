// Deployments: the list, and one deployment with its history (deploy, promote, rollback, stop;
// who and which run), traffic shares, and the live health and figures from the server's /metrics
// (refreshed every 5 s). Rollback/promote buttons only when actions are on.
import { get, post, url, enc, meta } from './api.js';
import { h, clear, badge, errorBox, empty, table, facts, jsonBlock, timeCell, fmtNum, shortDigest } from './dom.js';

const LIVE_MS = 5000;

export async function mount(main, ctx) {
  return ctx.name === 'deployment' ? detail(main, ctx) : list(main, ctx);
}

async function list(main, ctx) {
  document.title = 'Deployments · llmops';
  const res = await get('/api/deployments', ctx.signal);
  const deps = res.deployments || [];
  clear(main, h('div.page-head', null, h('h1', null, 'Deployments')),
    deps.length ? table(['Name', 'State', 'Endpoint', 'Model', 'Run', 'Updated'], deps.map((d) => h('tr', { dataset: { deployment: d.name, state: d.state } },
      h('td', null, h('a', { href: `/deployments/${enc(d.name)}` }, d.name)),
      h('td', null, badge(d.state)),
      h('td', null, d.endpoint ? h('code', null, d.endpoint) : '–'),
      h('td', null, d.artifact_digest ? h('a', { href: `/artifacts/${enc(d.artifact_digest)}` }, h('code', null, shortDigest(d.artifact_digest))) : '–'),
      h('td', null, d.run_id != null ? h('a', { href: `/runs/${d.run_id}` }, `#${d.run_id}`) : '–'),
      h('td', null, timeCell(d.updated_at)))), { id: 'deployments' })
      : empty('Nothing deployed yet: a pipeline with a deployer step (deployer/http) puts its model here.'));
}

async function detail(main, ctx) {
  const name = ctx.params.name;
  document.title = `Deployment ${name} · llmops`;
  const m = await meta();
  const head = h('div');
  const liveEl = h('section.box', { 'aria-label': 'Live figures', id: 'deployment-live' });
  const notes = h('div');
  const hist = h('section');
  clear(main, head, notes, liveEl, hist);
  let timer = 0;

  async function load(first) {
    let res;
    try {
      res = await get(`/api/deployments/${enc(name)}`, ctx.signal);
    } catch (e) {
      if (first) throw e;
      if (e.name !== 'AbortError') clear(liveEl, errorBox(e));
      return;
    }
    const d = res.deployment;
    if (first) {
      renderHead(d);
      renderHistory(res.history || []);
    }
    renderLive(res.live);
    if (first) renderAudit(res.actions || []);
  }

  function renderAudit(rows) {
    if (!rows.length) return;
    hist.append(h('h2', null, 'Actions from the UI'), table(['When', 'Action', 'Who', 'Outcome'], rows.map((a) => h('tr', null,
      h('td', null, timeCell(a.created_at)), h('td', null, a.action), h('td', null, a.actor || '–'), h('td', null, a.outcome || '–')))));
  }

  function renderHead(d) {
    const info = d.info || {};
    const traffic = info.traffic || info.traffic_shares || info.shares || canary(info);
    clear(head,
      h('div.title-row', null, h('h1', null, `Deployment `, h('span.muted', null, d.name)), badge(d.state), m.actions ? actionButtons() : null),
      h('div.box', null, facts([
        ['Endpoint', d.endpoint ? h('code', null, d.endpoint) : '–'],
        ['Model', d.artifact_digest ? h('a', { href: `/artifacts/${enc(d.artifact_digest)}` }, h('code', null, shortDigest(d.artifact_digest))) : '–'],
        ['Run', d.run_id != null ? h('a', { href: url(`/runs/${d.run_id}`, { step: stepOf(info), tab: 'io' }) }, `#${d.run_id}`) : '–'],
        ['Lineage', h('a', { href: url('/lineage', { ref: `deployment:${d.name}`, direction: 'upstream' }) }, 'back to the raw data')],
        ['Version', info.version ? h('code', null, info.version) : '–'],
        ['Updated', timeCell(d.updated_at)],
        traffic ? ['Traffic', trafficBar(traffic)] : null,
      ])));
  }

  function actionButtons() {
    const act = (what, label) => h('button.secondary', { type: 'button', dataset: { action: what }, onclick: async (e) => {
      e.target.disabled = true;
      notes.replaceChildren();
      try {
        await post(`/api/deployments/${enc(name)}/${what}`);
        notes.append(h('p.ok', { role: 'status' }, `${label}: done.`));
        await load(true);
      } catch (err) {
        notes.append(errorBox(err));
      } finally {
        e.target.disabled = false;
      }
    } }, label);
    return h('div.actions', null, act('promote', 'Promote'), act('rollback', 'Roll back'));
  }

  function renderLive(lv) {
    if (!lv) return void clear(liveEl, h('h2', null, 'Live'), empty('No live figures for this deployment.'));
    const mt = lv.metrics || {};
    const cards = Object.entries(mt).filter(([, v]) => typeof v === 'number').slice(0, 12)
      .map(([k, v]) => h('div.card', { dataset: { metric: k } }, h('div.k', null, k.replace(/_/g, ' ')), h('div.v', null, fmtNum(v))));
    clear(liveEl,
      h('div.title-row', null, h('h2', null, 'Live'),
        lv.reachable ? h('span.badge.st-succeeded', null, 'reachable') : h('span.badge.st-failed', null, 'unreachable'),
        h('span.muted', null, `refreshed every ${LIVE_MS / 1000} s`)),
      lv.error ? h('p.muted', null, lv.error) : null,
      cards.length ? h('div.cards', null, cards) : empty(lv.reachable ? 'The server reports no figures.' : 'No figures while the server is down.'),
      lv.health ? h('details', null, h('summary', null, 'Health'), jsonBlock(lv.health)) : null);
  }

  function renderHistory(rows) {
    clear(hist, h('h2', null, 'History'), rows.length ? table(['When', 'Action', 'Model', 'State', 'Who', 'Run'], rows.map((x) => {
      const info = x.info || {};
      return h('tr', { dataset: { action: x.action } },
        h('td', null, timeCell(x.created_at)),
        h('td', null, h('strong', null, x.action)),
        h('td', null, x.artifact_digest ? h('a', { href: `/artifacts/${enc(x.artifact_digest)}` }, h('code', null, shortDigest(x.artifact_digest))) : '–'),
        h('td', null, x.state ? badge(x.state) : '–'),
        h('td', null, who(info)),
        h('td', null, x.run_id != null ? h('a', { href: `/runs/${x.run_id}` }, `#${x.run_id}`) : '–'));
    }), { id: 'deployment-history' }) : empty('No history recorded.'));
  }

  await load(true);
  timer = setInterval(() => load(false), LIVE_MS);
  return { destroy: () => clearInterval(timer) };
}

function stepOf(info) {
  return info.step || (/^run:\d+:(.+)$/.exec(info.actor || '') || [])[1] || null;
}

// deployer/http's canary: canary_percent of the requests go to to_version, the rest to from_version.
function canary(info) {
  const c = Number(info.canary_percent);
  if (!info.version && !info.to_version) return null;
  if (!(c > 0) || !info.from_version) return { [info.version || info.to_version]: 1 };
  return { [info.from_version]: (100 - c) / 100, [info.to_version]: c / 100 };
}

// "run:2:deploy" -> "run 2, step deploy"; a person's name as is.
function who(info) {
  const m = /^run:(\d+):(.+)$/.exec(info.actor || '');
  if (m) return `pipeline (run ${m[1]}, step ${m[2]})`;
  return info.actor || info.user || '–';
}

// Traffic shares: {"v1": 0.9, "v2": 0.1} or [{version, share}].
function trafficBar(t) {
  const entries = Array.isArray(t) ? t.map((x) => [x.version || x.name || x.digest, x.share ?? x.weight]) : Object.entries(t);
  return h('span', null, entries.map(([k, v], i) => [i ? ' · ' : '', h('code', null, String(k).slice(0, 19)), ` ${Math.round((+v || 0) * 100)}%`]));
}
