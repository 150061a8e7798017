// The e2e fixture: a REAL store made by running real pipelines with the llmops binary in a temp
// LLMOPS_HOME, the `llmops ui` server on it, and chromium driven by playwright-core.
// Environment: LLMOPS_BIN (default build/cli/llmops), UI_SHOTS (a folder for screenshots),
// CHROMIUM (default /usr/bin/chromium), LLMOPS_UI_ASSETS (serve ui/web from disk, for editing).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const BIN = process.env.LLMOPS_BIN || path.join(REPO, 'build/cli/llmops');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PIPELINES = path.join(here, 'pipelines');
export const SHOTS = process.env.UI_SHOTS || '';

// Why the suite cannot run here, or '' when it can.
export function skipReason() {
  if (!fs.existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM}`;
  try {
    createRequire(path.join(here, 'package.json')).resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed in ui/tests/node_modules (scripts/setup.sh)';
  }
  if (!fs.existsSync(BIN)) return `no llmops binary at ${BIN}`;
  return '';
}

// The environment of every llmops child: our home, no inherited plugin path, no colours.
function childEnv(home, extra = {}) {
  const env = { ...process.env };
  delete env.LLMOPS_HOME;
  delete env.LLMOPS_PLUGIN_PATH;
  delete env.LLMOPS_UI_TOKEN;
  return { ...env, LLMOPS_HOME: home, NO_COLOR: '1', ...extra };
}

// A temp folder with an llmops home, a copy of the test pipelines, and the processes started on it.
export class Store {
  constructor(tag = 'ui') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `llmops-${tag}-`));
    this.home = path.join(this.dir, 'home');
    this.pipelines = path.join(this.dir, 'pipelines');
    fs.cpSync(PIPELINES, this.pipelines, { recursive: true });
    this.children = new Set();
    this.deployments = new Set();
  }

  // Runs llmops to the end; resolves {code, out, err} (never rejects on a non-zero exit).
  llmops(args, { env = {}, timeout = 600_000, cwd } = {}) {
    return new Promise((resolve) => {
      execFile(BIN, args, { env: childEnv(this.home, env), timeout, cwd: cwd || this.dir, maxBuffer: 256 << 20 },
        (error, out, err) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err }));
    });
  }

  async json(args) {
    const r = await this.llmops(args);
    if (r.code !== 0) throw new Error(`llmops ${args.join(' ')} exited ${r.code}: ${r.err}`);
    return JSON.parse(r.out);
  }

  // Starts llmops in the background; the child is killed by close().
  spawn(args, { env = {}, cwd } = {}) {
    const child = spawn(BIN, args, { env: childEnv(this.home, env), cwd: cwd || this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.out = '';
    child.err = '';
    child.stdout.on('data', (d) => { child.out += d; });
    child.stderr.on('data', (d) => { child.err += d; });
    child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
    this.children.add(child);
    child.exited.then(() => this.children.delete(child));
    return child;
  }

  // `llmops run FILE --json`: resolves the summary {run, state, steps}.
  async run(file, args = []) {
    const r = await this.llmops(['run', path.join(this.pipelines, file), '--json', ...args]);
    if (r.code > 1) throw new Error(`llmops run ${file} exited ${r.code}: ${r.err}`);
    return JSON.parse(r.out);
  }

  // (1) The miniature whole loop with the real plugins: two cycles, v2 deployed on loopback.
  async mini() {
    this.deployments.add('mini');
    const r = await this.llmops(['run', path.join(this.pipelines, 'mini.yaml')]);
    if (r.code !== 0) throw new Error(`the mini loop failed (${r.code}): ${r.out}\n${r.err}`);
    const runs = (await this.json(['runs', '--json'])).filter((x) => x.pipeline === 'mini');
    return { first: runs[runs.length - 1].id, second: runs[0].id };
  }

  // (2) Failed steps with errors and logs, retries, a skipped step.
  failures() {
    return this.run('failures.yaml');
  }

  // (3) A run still going while the page is open. Resolves {id, child} once it has started.
  async startLive(seconds = 5) {
    const child = this.spawn(['run', path.join(this.pipelines, 'live.yaml'), '--no-cache', '--json', '-p', `seconds=${seconds}`]);
    const id = await waitForOutput(child, 'err', /run (\d+) started/, 30_000);
    return { id: Number(id), child };
  }

  // (4) A generated pipeline of `levels` x `width` testing/noop steps, each needing 1-2 steps
  // of the level before; run for real (--no-cache, so each step really runs).
  async big(levels = 100, width = 100) {
    const name = (l, i) => `l${String(l).padStart(2, '0')}_s${String(i).padStart(2, '0')}`;
    const lines = ['apiVersion: llmops/v1', 'kind: Pipeline', 'name: big', 'steps:'];
    for (let l = 0; l < levels; l++) {
      for (let i = 0; i < width; i++) {
        lines.push(`  ${name(l, i)}:`, '    uses: testing/noop');
        if (l === 0) continue;
        const b = (i * 7 + 3) % width;
        lines.push(`    needs: [${name(l - 1, i)}${b !== i ? `, ${name(l - 1, b)}` : ''}]`);
      }
    }
    fs.writeFileSync(path.join(this.pipelines, 'big.yaml'), lines.join('\n') + '\n');
    return this.run('big.yaml', ['--no-cache']);
  }

  // A watch-triggered run: the scheduler on the pipelines folder sees a new file in data/.
  async watchRun() {
    fs.mkdirSync(path.join(this.pipelines, 'data'), { recursive: true });
    const sched = this.spawn(['scheduler', '--dir', this.pipelines, '--poll', '1'], { cwd: this.pipelines });
    // The first look records what is there; a file added after that starts a run.
    await this.until(async () => {
      const list = await this.json(['schedule', 'list', '--dir', this.pipelines, '--json']);
      return list.some((s) => s.kind === 'watch' && s.last_digest);
    }, 30_000, 'the scheduler to look at the watch entry');
    fs.writeFileSync(path.join(this.pipelines, 'data', 'incoming.txt'), 'new data\n');
    const run = await this.until(async () => (await this.json(['runs', '--json'])).find((r) => r.trigger === 'watch' && r.state === 'succeeded'),
      60_000, 'a watch-triggered run');
    sched.kill('SIGTERM');
    await sched.exited;
    return run.id;
  }

  // Polls an async condition (for CLI state, not the page): resolves its first truthy value.
  async until(cond, timeoutMs, what) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await cond();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  // Starts `llmops ui --port 0`; resolves {url, child} from its "llmops ui: URL" line.
  async ui({ token, home, env: extra = {} } = {}) {
    const args = ['ui', '--port', '0', '--host', '127.0.0.1', '--pipelines', this.pipelines];
    if (process.env.LLMOPS_UI_ASSETS) args.push('--assets', path.join(REPO, 'ui/web'));
    const env = { ...(token ? { LLMOPS_UI_TOKEN: token } : {}), ...extra };
    if (home) env.LLMOPS_HOME = home;
    const child = this.spawn(args, { env });
    // A server that dies under the tests says why (our own kills set `stopping`).
    child.exited.then((code) => {
      if (!child.stopping) console.error(`llmops ui exited (${code}) while the tests ran:\n${child.err}`);
    });
    const base = await waitForOutput(child, 'out', /llmops ui: (http:\/\/127\.0\.0\.1:\d+)\//, 30_000);
    return { url: base, child };
  }

  async close() {
    for (const name of this.deployments) await this.llmops(['deployments', 'stop', name], { timeout: 60_000 });
    for (const c of this.children) {
      c.stopping = true;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await c.exited;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// Resolves the first capture group of `re` once the child's stdout/stderr matches it.
export function waitForOutput(child, stream, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(child[stream]);
      if (!m) return false;
      cleanup();
      resolve(m[1] ?? m[0]);
      return true;
    };
    const onData = () => check();
    const onExit = () => { if (!check()) { cleanup(); reject(new Error(`exited before printing ${re}: ${child.out}\n${child.err}`)); } };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${re}: ${child.out}\n${child.err}`)); }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child[stream === 'out' ? 'stdout' : 'stderr'].off('data', onData);
      child.off('exit', onExit);
    };
    child[stream === 'out' ? 'stdout' : 'stderr'].on('data', onData);
    child.on('exit', onExit);
    check();
  });
}

// Chromium with a page factory that records console errors, page errors and every request.
export async function browser() {
  const { chromium } = await import('playwright-core');
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const log = { errors: [], requests: [] };
  async function page(opts = {}) {
    const p = await b.newPage({ viewport: { width: 1280, height: 800 }, ...opts });
    p.on('pageerror', (e) => log.errors.push(`pageerror on ${p.url()}: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error') log.errors.push(`console.error on ${p.url()}: ${m.text()}`);
    });
    p.on('request', (r) => log.requests.push(r.url()));
    return p;
  }
  return { browser: b, page, log, close: () => b.close() };
}

// Saves a 1280x800 screenshot into UI_SHOTS (when set) as NAME.png.
export async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

// Goes to a page of the UI and waits for its first full render.
export async function open(page, base, route, timeout = 15_000) {
  await page.goto(base + route);
  await page.waitForSelector('body[data-ready="1"]', { timeout });
}
