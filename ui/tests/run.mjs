// Runs the browser suite: exit 77 (ctest: skipped) when chromium or playwright-core is missing,
// else `node --test --test-concurrency=1 ui/tests/e2e` with its exit code.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipReason } from './fixture.mjs';

const reason = skipReason();
if (reason) {
  console.log(`skipped: ${reason}`);
  process.exit(77);
}
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'e2e');
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', dir], { stdio: 'inherit' });
process.exit(r.status ?? 1);
