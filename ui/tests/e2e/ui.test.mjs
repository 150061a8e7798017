// `llmops ui` in a real browser against a real store: the miniature loop (two cycles, a model
// served on loopback), failed steps, a watch-triggered run, and a run that goes on while the page
// is open. Waits are on conditions only (selectors, functions, responses), each bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Store, browser, open, shot, skipReason } from '../fixture.mjs';

const skip = skipReason() || false;
let store;
let bw;
let base;
let ids;
let failRun;
let watchRun;

before(async () => {
  if (skip) return;
  store = new Store('ui-e2e');
  ids = await store.mini();
  failRun = (await store.failures()).run;
  watchRun = await store.watchRun();
  base = (await store.ui()).url;
  bw = await browser();
}, { timeout: 600_000 });

after(async () => {
  if (bw) await bw.close();
  if (store) await store.close();
});

// A fresh page for one test, closed after it.
async function withPage(fn) {
  const page = await bw.page();
  try {
    return await fn(page);
  } finally {
    await page.close();
  }
}

test('the runs list shows the runs, newest first, with the feedback chain', { skip }, () => withPage(async (page) => {
  const runs = await store.json(['runs', '--json']);
  await open(page, base, '/runs');
  const rows = await page.$$eval('tr[data-run]', (trs) => trs.map((tr) => [Number(tr.dataset.run), tr.dataset.state]));
  assert.deepEqual(rows, runs.map((r) => [r.id, r.state]));
  const second = page.locator(`tr[data-run="${ids.second}"]`);
  assert.match(await second.innerText(), new RegExp(`feedback ← #${ids.first}`));
  assert.match(await page.locator(`tr[data-run="${ids.first}"]`).innerText(), new RegExp(`#${ids.first} → #${ids.second}`));
  assert.match(await page.locator(`tr[data-run="${watchRun}"]`).innerText(), /watch/);
  await shot(page, 'runs');
}));

test('a run page shows every step with its state, as colour and as text', { skip }, () => withPage(async (page) => {
  for (const id of [ids.first, ids.second, failRun]) {
    const show = await store.json(['show', String(id), '--json']);
    await open(page, base, `/runs/${id}`);
    for (const s of show.steps) {
      const node = page.locator(`#dag [data-step="${s.step}"]`);
      assert.equal(await node.getAttribute('data-state'), s.state, `run ${id} step ${s.step}`);
      assert.match(await node.textContent(), new RegExp(s.state));
    }
  }
  await open(page, base, `/runs/${ids.second}?view=table`);
  assert.equal(await page.locator('#step-table tr[data-step="synthesize"]').getAttribute('data-state'), 'cached');
  await open(page, base, `/runs/${ids.first}?step=train&tab=metrics`);
  await page.waitForSelector('#step-panel .chart[data-points]', { timeout: 10_000 });
  await shot(page, 'run');
}));

test('a running step turns succeeded without a reload (SSE)', { skip }, () => withPage(async (page) => {
  const live = await store.startLive(5);
  await open(page, base, `/runs/${live.id}`);
  await page.waitForSelector('body[data-sse="open"]', { timeout: 10_000 });
  await page.evaluate(() => { window.__noReload = true; });
  await page.waitForSelector('#dag [data-step="slow"][data-state="running"]', { timeout: 15_000 });
  await page.waitForSelector('#dag [data-step="slow"][data-state="succeeded"]', { timeout: 30_000 });
  await page.waitForSelector('#dag [data-step="done"]:is([data-state="succeeded"], [data-state="cached"])', { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  assert.match(await page.locator('#dag [data-step="slow"]').textContent(), /succeeded/);
  assert.ok(await page.evaluate(() => document.body.dataset.lastEventId), 'an event id was seen');
  await live.child.exited;
}));

test('a failed step shows its error, its attempts and its log', { skip }, () => withPage(async (page) => {
  await open(page, base, `/runs/${failRun}?step=broken&tab=attempts`);
  await page.waitForSelector('#step-panel .errtext', { timeout: 10_000 });
  const errors = await page.locator('#step-panel .errtext').allTextContents();
  assert.equal(errors.length, 2, 'both attempts failed');
  for (const e of errors) assert.match(e, /broken: the data set is empty/);
  await page.click('#step-panel [data-tab="log"]');
  await page.waitForFunction(() => /attempt 2 failed/.test(document.querySelector('#step-panel pre.log')?.textContent || ''), null, { timeout: 10_000 });
  assert.match(new URL(page.url()).search, /tab=log/);
  const href = await page.locator('#step-panel a[download]').getAttribute('href');
  const text = await page.evaluate((u) => fetch(u).then((r) => r.text()), href);
  assert.match(text, /broken: the data set is empty/);
  await open(page, base, `/runs/${failRun}?view=gantt&step=broken&tab=attempts`);
  const gantt = page.locator('#gantt canvas');
  assert.equal(await gantt.getAttribute('data-failed'), '3', 'flaky failed once, broken twice');
  await open(page, base, `/runs/${ids.first}?view=gantt&step=train&tab=log`);
  await page.waitForFunction(() => document.querySelector('#step-panel pre.log')?.textContent.length > 0, null, { timeout: 10_000 });
  await shot(page, 'gantt');
}));

test('the lineage page reaches the raw data from deployment:mini, through both cycles', { skip }, () => withPage(async (page) => {
  await open(page, base, '/lineage?ref=deployment:mini&direction=upstream');
  await page.waitForSelector('#lineage [data-node-type]', { timeout: 10_000 });
  const labels = await page.$$eval('#lineage [data-node-type]', (gs) => gs.map((g) => g.dataset.label));
  const has = (re) => labels.some((l) => re.test(l));
  assert.ok(has(new RegExp(`^run ${ids.first}: synthesize`)), 'the raw data step of cycle 1');
  assert.ok(has(new RegExp(`^run ${ids.first}: monitor`)), 'the monitor of cycle 1 (production data)');
  assert.ok(has(new RegExp(`^run ${ids.second}: curate`)), 'the curation of cycle 2');
  assert.ok(has(/^dataset\/dataset$/), 'the synthetic data set');
  assert.ok(has(/^dataset\/production$/), 'the production data set');
  // Clicking an artifact expands around it, and the link opens the artifact view.
  const raw = page.locator('#lineage [data-label="dataset/dataset"]').first();
  const digest = await raw.getAttribute('data-node-id');
  await raw.click();
  await page.waitForSelector(`#lineage [data-node-id="${digest}"][data-expanded="1"]`, { timeout: 10_000 });
  assert.match(page.url(), /expand=/);
  await shot(page, 'lineage');
  await page.click('#lineage-node a[href^="/artifacts/"]');
  await page.waitForSelector('body[data-ready="1"] h1', { timeout: 10_000 });
  assert.match(await page.locator('main').innerText(), /Produced by\s+run #\d+, step (synthesize|production|drifted)/);
}));

test('loss curves render with the points of the trainer\'s metrics', { skip }, () => withPage(async (page) => {
  const points = async (run) => {
    const train = (await store.json(['show', String(run), '--json'])).steps.find((s) => s.step === 'train');
    return train.executions.at(-1).metrics.loss.length;
  };
  const expected = (await points(ids.first)) + (await points(ids.second));
  await open(page, base, `/metrics?runs=${ids.first},${ids.second}&name=loss`);
  await page.waitForSelector('#metric-chart canvas', { timeout: 10_000 });
  const chart = page.locator('#metric-chart');
  assert.equal(Number(await chart.getAttribute('data-points')), expected);
  assert.equal(await chart.getAttribute('data-series'), '2');
  assert.ok(expected > 0);
  assert.equal(await page.locator(`#run-${ids.first}`).isChecked(), true);
  // The evaluator's gates and its blessing.
  await page.waitForSelector(`[data-run="${ids.second}"][data-blessed]`, { timeout: 10_000 });
  assert.match(await page.locator(`[data-run="${ids.second}"][data-blessed]`).innerText(), /blessed[\s\S]*loss >= 0[\s\S]*pass/);
  await shot(page, 'metrics');
}));

test('filters survive a reload via the URL', { skip }, () => withPage(async (page) => {
  await open(page, base, '/runs');
  await Promise.all([page.waitForURL(/pipeline=mini/), page.selectOption('#f-pipeline', 'mini')]);
  await page.waitForSelector('body[data-ready="1"]');
  await Promise.all([page.waitForURL(/trigger=feedback/), page.selectOption('#f-trigger', 'feedback')]);
  await page.waitForSelector('body[data-ready="1"]');
  const check = async () => {
    assert.equal(await page.inputValue('#f-pipeline'), 'mini');
    assert.equal(await page.inputValue('#f-trigger'), 'feedback');
    const rows = await page.$$eval('tr[data-run]', (trs) => trs.map((tr) => Number(tr.dataset.run)));
    assert.deepEqual(rows, [ids.second]);
  };
  await check();
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  await check();
  await page.goBack();
  await page.waitForSelector('body[data-ready="1"]');
  assert.equal(await page.inputValue('#f-trigger'), '');
  // The step filter of a run page too.
  await open(page, base, `/runs/${failRun}?view=table&state=failed`);
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  assert.deepEqual(await page.$$eval('#step-table tr[data-step]', (trs) => trs.map((t) => t.dataset.step)), ['broken']);
}));

test('an action without the token is refused', { skip }, () => withPage(async (page) => {
  await open(page, base, `/runs/${failRun}`);
  assert.equal(await page.locator('[data-action]').count(), 0, 'no action buttons when actions are off');
  const res = await page.evaluate((id) => fetch(`/api/runs/${id}/rerun`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    .then(async (r) => ({ status: r.status, body: await r.json() })), failRun);
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'read_only');
  // With a token configured, a request without it (or with a wrong one) is unauthorized.
  const withToken = await store.ui({ token: 'sesame' });
  await open(page, withToken.url, `/runs/${failRun}`);
  await page.waitForSelector('[data-action="resume"]', { timeout: 10_000 });
  for (const auth of [null, 'Bearer wrong']) {
    const r = await page.evaluate(([id, a]) => fetch(`/api/runs/${id}/rerun`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(a ? { Authorization: a } : {}) }, body: '{}' }).then(async (x) => ({ status: x.status, body: await x.json() })), [failRun, auth]);
    assert.equal(r.status, 401, `auth ${auth}`);
    assert.equal(r.body.error.code, 'unauthorized');
  }
  withToken.child.stopping = true;
  withToken.child.kill('SIGTERM');
  await withToken.child.exited;
  bw.log.errors = bw.log.errors.filter((e) => !/Failed to load resource/.test(e)); // the 401/403 above are on purpose
}));

test('keyboard: Tab reaches the nav links and a DAG node; Enter opens the step panel', { skip }, () => withPage(async (page) => {
  await open(page, base, `/runs/${ids.first}`);
  const seen = new Set();
  let step = null;
  for (let i = 0; i < 80 && !step; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const a = document.activeElement;
      return { nav: a?.dataset?.nav || null, step: a?.closest('#dag') ? a.dataset.step : null };
    });
    if (f.nav) seen.add(f.nav);
    step = f.step;
  }
  assert.deepEqual([...seen].sort(), ['deployments', 'lineage', 'metrics', 'monitor', 'runs', 'schedules']);
  assert.ok(step, 'a DAG node took the focus');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#step-panel[data-step="${step}"]`, { timeout: 10_000 });
  assert.match(page.url(), new RegExp(`step=${step}`));
  const labelled = await page.$$eval('input, select', (els) => els.every((el) => el.labels && el.labels.length > 0));
  assert.ok(labelled, 'every input has a label');
}));

test('deployments, schedules and monitor pages show the loop', { skip }, () => withPage(async (page) => {
  await open(page, base, '/deployments');
  assert.equal(await page.locator('tr[data-deployment="mini"]').count(), 1);
  await open(page, base, '/deployments/mini');
  await page.waitForSelector('#deployment-history tr[data-action]');
  const history = await page.locator('#deployment-history tr[data-action]').allInnerTexts();
  assert.equal(history.length, 2, 'v1 started, then v2 loaded into the running server');
  assert.match(history[0], new RegExp(`run ${ids.second}, step deploy[\\s\\S]*#${ids.second}`));
  await page.waitForSelector('#deployment-live .badge', { timeout: 10_000 });
  await shot(page, 'deployments');
  await open(page, base, '/schedules');
  assert.equal(await page.locator('tr[data-kind="cron"]').count(), 1);
  const watch = page.locator('tr[data-kind="watch"]');
  assert.match(await watch.innerText(), new RegExp(`#${watchRun}`));
  await shot(page, 'schedules');
  await open(page, base, '/monitor');
  const rep = page.locator(`section[data-run="${ids.first}"]`);
  assert.equal(await rep.getAttribute('data-drift'), '1');
  assert.match(await rep.innerText(), /PSI/);
  assert.match(await rep.innerText(), new RegExp(`feedback run[s]?: #${ids.second}`));
  await shot(page, 'monitor');
}));

test('bad input gives a clear page or JSON error', { skip }, () => withPage(async (page) => {
  const expectAlert = async (route, code) => {
    await open(page, base, route);
    const alert = page.locator(`[role="alert"][data-error-code="${code}"]`);
    assert.equal(await alert.count(), 1, `${route} -> ${code}`);
    assert.ok((await alert.innerText()).length > 10);
  };
  await expectAlert('/runs/424242', 'no_such_run');
  await expectAlert('/runs?limit=0', 'bad_query');
  await expectAlert('/artifacts/sha256:0000', 'no_such_artifact');
  await expectAlert('/no/such/page', 'no_route');
  const api = await page.evaluate(() => fetch('/api/runs?limit=abc').then(async (r) => ({ status: r.status, body: await r.json() })));
  assert.equal(api.status, 400);
  assert.equal(api.body.error.code, 'bad_query');
  // The curated training set is too big to preview whole: the artifact page says so.
  const show = await store.json(['show', String(ids.first), '--json']);
  const train = show.steps.find((s) => s.step === 'curate').executions.at(-1).outputs.train;
  assert.ok(train.size > 65536, `the training set has ${train.size} bytes`);
  await open(page, base, `/artifacts/${train.digest}`);
  assert.match(await page.locator('main').innerText(), /too big to show whole: showing the first/);
  bw.log.errors = bw.log.errors.filter((e) => !/Failed to load resource/.test(e)); // the 4xx above are on purpose
}));

test('no console errors on any page, and every request goes to 127.0.0.1', { skip }, () => withPage(async (page) => {
  const routes = ['/', '/runs', `/runs/${ids.first}`, `/runs/${ids.first}?view=table`, `/runs/${ids.first}?view=gantt`,
    ...['log', 'attempts', 'params', 'io', 'metrics'].map((t) => `/runs/${ids.second}?step=train&tab=${t}`),
    `/runs/${failRun}?step=report&tab=io`, '/metrics', '/lineage', '/lineage?ref=deployment:mini', '/deployments',
    '/deployments/mini', '/schedules', '/monitor'];
  const before = bw.log.errors.length;
  for (const r of routes) await open(page, base, r);
  // Client-side navigation too: a link click, back and forward.
  await page.click('nav a[data-nav="runs"]');
  await page.waitForSelector('body[data-ready="1"] tr[data-run]');
  await page.goBack();
  await page.waitForSelector('body[data-ready="1"]');
  assert.deepEqual(bw.log.errors.slice(before), []);
  assert.deepEqual(bw.log.errors, []);
  const foreign = bw.log.requests.filter((u) => !u.startsWith('http://127.0.0.1:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
}));

// Last: it changes what deployment:mini serves.
test('with the token, a person rolls the deployment back from its page, and the store records who', { skip }, () => withPage(async (page) => {
  const withToken = await store.ui({ token: 'sesame' });
  try {
    await open(page, withToken.url, '/deployments/mini');
    await page.fill('#token', 'sesame');
    await page.locator('#token').dispatchEvent('change');
    await page.click('[data-action="rollback"]');
    await page.waitForSelector('[role="status"]', { timeout: 60_000 });
    const d = await page.evaluate(() => fetch('/api/deployments/mini').then((r) => r.json()));
    assert.equal(d.history[0].action, 'rollback');
    assert.equal(d.history[0].info.actor, 'ui:rollback');
    assert.equal(d.actions[0].action, 'rollback');
    assert.equal(d.actions[0].actor, 'ui');
    assert.match(d.actions[0].outcome, /^done/);
    // The page shows it without a reload.
    await page.waitForSelector('tr[data-action="rollback"]', { timeout: 10_000 });
  } finally {
    withToken.child.stopping = true;
    withToken.child.kill('SIGTERM');
    await withToken.child.exited;
  }
}));
