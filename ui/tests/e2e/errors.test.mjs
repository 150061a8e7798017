// Stores the UI cannot read: none at all, and one of a newer schema. Both give a clear page
// ([role=alert][data-error-code]) and a JSON error, never a blank tab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Store, browser, open, skipReason } from '../fixture.mjs';

const skip = skipReason() || false;
let store;
let bw;

before(async () => {
  if (skip) return;
  store = new Store('ui-errors');
  bw = await browser();
}, { timeout: 120_000 });

after(async () => {
  if (bw) await bw.close();
  if (store) await store.close();
});

async function expectError(base, code, status) {
  const page = await bw.page();
  for (const route of ['/runs', '/metrics', '/deployments']) {
    await open(page, base, route);
    const alert = page.locator(`[role="alert"][data-error-code="${code}"]`);
    assert.equal(await alert.count(), 1, `${route}: ${code}`);
  }
  const res = await page.evaluate(() => fetch('/api/runs').then(async (r) => ({ status: r.status, body: await r.json() })));
  assert.equal(res.status, status);
  assert.equal(res.body.error.code, code);
  assert.ok(res.body.error.message.length > 10);
  const meta = await page.evaluate(() => fetch('/api/meta').then((r) => r.json()));
  await page.close();
  return meta;
}

test('a missing store: a clear page and no_store', { skip }, async () => {
  const ui = await store.ui({ home: path.join(store.dir, 'nothing-here') });
  const meta = await expectError(ui.url, 'no_store', 503);
  assert.equal(meta.store, 'missing');
  assert.equal(fs.existsSync(path.join(store.dir, 'nothing-here', 'llmops.db')), false, 'the UI never creates a store');
});

test('a store of a newer schema: a clear page and schema_too_new', { skip }, async () => {
  await store.failures();
  const db = path.join(store.home, 'llmops.db');
  execFileSync('python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("INSERT INTO schema_version VALUES (9999, 0)"); c.commit()', db]);
  const ui = await store.ui();
  await expectError(ui.url, 'schema_too_new', 409);
  bw.log.errors = bw.log.errors.filter((e) => !/Failed to load resource/.test(e));
  assert.deepEqual(bw.log.errors, []);
});
