// The dashboard end to end: headless Debian Chromium driven by playwright-core (pinned in
// ../package-lock.json) against a real local farm: kiln-scheduler --http-listen, a CPU
// kiln-worker and a kiln-worker with fake GPUs (a mixed fleet), jobs submitted with
// kilnctl. Registered in CTest as dashboard_browser_test (scheduler/http/CMakeLists.txt).
//
//   node dashboard.test.mjs --bin-dir=BUILD/bin --artifacts=DIR [--source-dir=REPO]
//                           [--max-jobs-page-ms=1000]
//
// Checks, each step bounded by a deadline (no sleeps): the fleet page shows the mixed
// fleet's architectures (sm_120, sm_90 not runnable with its reason, cpu); a job submitted
// with kilnctl appears on the jobs page, progresses and succeeds without a reload; an
// image.to3d job's preview image loads and its GLB viewer canvas is not blank; Cancel
// cancels a running job; on a scheduler with tokens, a user of one tenant signed in through
// the sign-in box neither lists nor opens another tenant's job; with 10,000 jobs in a store, the jobs page loads in under a
// second. Screenshots go to --artifacts (the test's build output dir).
import { chromium } from 'playwright-core';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, ...v] = a.replace(/^--/, '').split('=');
  return [k, v.join('=')];
}));
const here = path.dirname(fileURLToPath(import.meta.url));
const binDir = args['bin-dir'];
const sourceDir = args['source-dir'] || path.resolve(here, '../../../..');
// Bound on the median load of the jobs page with 10,000 jobs (--max-jobs-page-ms).
const maxJobsPageMs = Number(args['max-jobs-page-ms'] || 1000);
const artifacts = args.artifacts || fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dash-artifacts-'));
if (!binDir) { console.error('usage: dashboard.test.mjs --bin-dir=BUILD/bin --artifacts=DIR'); process.exit(2); }
fs.rmSync(artifacts, { recursive: true, force: true });  // this run's files only
fs.mkdirSync(artifacts, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dash-'));
const children = [];
const results = [];
const dashboards = [];  // base URLs of the schedulers under test

function log(...parts) { console.log(`[dashboard] ${parts.join(' ')}`); }

async function until(what, condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function start(name, argv) {
  const out = fs.openSync(path.join(tmp, `${name}.log`), 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', out, out] });
  children.push(child);
  return child;
}

async function startScheduler(name, extraFlags = []) {
  const dir = path.join(tmp, name);
  start(name, [path.join(binDir, 'kiln-scheduler'), '--listen=127.0.0.1:0', `--data-dir=${dir}/data`,
    `--port-file=${dir}.port`, '--http-listen=127.0.0.1:0', `--http-port-file=${dir}.http-port`, ...extraFlags]);
  const read = (f) => { try { return fs.readFileSync(f, 'utf8').trim(); } catch { return ''; } };
  await until(`${name} to serve (see ${dir}.log)`, () => read(`${dir}.port`), 60000);
  return { grpc: `127.0.0.1:${read(`${dir}.port`)}`, http: `http://127.0.0.1:${read(`${dir}.http-port`)}` };
}

function run(binary, argv, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(path.join(binDir, binary), argv, { env: { ...process.env, ...env }, timeout: 120000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${binary} ${argv.join(' ')}: ${error.message}\n${stderr}`)) : resolve(stdout.trim())));
  });
}

async function step(name, page, body) {
  const t0 = Date.now();
  try {
    await body();
    await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
    results.push({ name, ok: true, ms: Date.now() - t0 });
    log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (error) {
    await page.screenshot({ path: path.join(artifacts, `${name}-FAILED.png`), fullPage: true }).catch(() => {});
    results.push({ name, ok: false, error: String(error.stack || error) });
    log(`FAIL ${name}: ${error.stack || error}`);
  }
}

const badgeState = (page) => page.locator('main h1 .badge').first().getAttribute('data-state').catch(() => null);

async function main() {
  const farm = await startScheduler('scheduler');
  dashboards.push(farm.http);
  const kiln = { KILN_ADDR: farm.grpc };
  log(`farm: gRPC ${farm.grpc}, dashboard ${farm.http}, files in ${tmp}`);
  start('worker-cpu', [path.join(binDir, 'kiln-worker'), `--scheduler=${farm.grpc}`, `--work-dir=${tmp}/worker-cpu`,
    '--slots=2', '--gpus=none', '--worker-id=cpu-0']);
  start('worker-gpu', [path.join(binDir, 'kiln-worker'), `--scheduler=${farm.grpc}`, `--work-dir=${tmp}/worker-gpu`,
    '--slots=0', '--fake-devices=sm_120:32GiB,sm_90:80GiB:nokernel', '--worker-id=gpu-0']);

  // A fresh profile (--user-data-dir; playwright passes it from the first argument).
  const browser = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // The GLB viewer's WebGL runs on SwiftShader (CPU) under --disable-gpu; Chromium
      // warns that this automatic fallback is going away unless opted into.
      '--enable-unsafe-swiftshader'],
    viewport: { width: 1440, height: 900 },
  });
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  // Nothing may be fetched from anywhere but the schedulers under test.
  const foreign = [];
  page.on('request', (r) => {
    const url = r.url();
    if (!dashboards.some((d) => url.startsWith(`${d}/`)) && !/^(blob|data):/.test(url)) foreign.push(url);
  });

  await step('fleet', page, async () => {
    await page.goto(`${farm.http}/#/fleet`);
    for (const arch of ['sm_120', 'sm_90', 'cpu']) {
      await page.waitForSelector(`section.arch[data-arch="${arch}"]`, { timeout: 90000 });
    }
    const sm90 = await page.locator('section.arch[data-arch="sm_90"]').innerText();
    if (!/no kernel|not runnable|cannot/i.test(sm90)) throw new Error(`sm_90 shows no reason: ${sm90}`);
    if (await page.locator('section.arch[data-arch="sm_90"] tr[data-runnable="0"]').count() < 1) throw new Error('sm_90 is not shown as not runnable');
    if (await page.locator('section.arch[data-arch="sm_120"] tr[data-runnable="1"]').count() < 1) throw new Error('sm_120 is not shown as runnable');
  });

  await step('job-live', page, async () => {
    await page.goto(`${farm.http}/#/jobs`);
    await page.waitForSelector('#jobs-loaded, main p.muted', { timeout: 30000 });
    await page.evaluate(() => { window.kilnNoReload = 1; });
    const id = await run('kilnctl', ['submit', 'debug.sleep', '--params', '{"seconds": 6, "print": 3}', '--label', 'test=live'], kiln);
    log(`live job ${id}`);
    await page.waitForSelector(`tr[data-job-id="${id}"]`, { timeout: 30000 });
    await page.click(`tr[data-job-id="${id}"] a`);
    const seen = new Set();
    let progressed = false;
    await until(`job ${id} to succeed`, async () => {
      const state = await badgeState(page);
      if (state) seen.add(state);
      const pct = await page.locator('main .progress .pct').first().innerText().catch(() => '0%');
      if (state === 'running' && parseInt(pct, 10) > 0) progressed = true;
      return state === 'succeeded';
    }, 120000);
    if (!seen.has('running') || !progressed) throw new Error(`no running progress seen (states: ${[...seen]})`);
    if (await page.evaluate(() => window.kilnNoReload) !== 1) throw new Error('the page reloaded');
    await until('the log of the attempt', async () => /debug\.sleep: line 3 of 3/.test(await page.locator('#log').innerText()), 30000);
  });

  await step('job-outputs', page, async () => {
    const photo = path.join(sourceDir, 'tests/data/images/photo_like_object.png');
    const id = await run('kilnctl', ['submit', 'image.to3d', '--input', `photo.png=${photo}`, '--params',
      '{"input": "photo.png", "preview": {"frames": 4, "size": [160, 160]}}'], kiln);
    log(`image.to3d job ${id}`);
    await page.goto(`${farm.http}/#/jobs/${id}`);
    await until(`job ${id} to succeed`, async () => (await badgeState(page)) === 'succeeded', 240000);
    await page.waitForSelector('#preview', { timeout: 30000 });
    await until('the preview image to load', () => page.evaluate(() => {
      const img = document.getElementById('preview');
      return img && img.complete && img.naturalWidth > 0;
    }), 30000);
    await page.waitForSelector('#viewer canvas[data-ready="1"]', { timeout: 60000 });
    const pixels = await page.evaluate(() => {
      const src = document.querySelector('#viewer canvas');
      const c = document.createElement('canvas');
      c.width = src.width; c.height = src.height;
      const g = c.getContext('2d');
      g.drawImage(src, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const [r0, g0, b0] = [d[0], d[1], d[2]];  // the corner: background
      let differing = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - r0) + Math.abs(d[i + 1] - g0) + Math.abs(d[i + 2] - b0) > 30) differing++;
      }
      return { differing, total: d.length / 4 };
    });
    log(`viewer: ${pixels.differing} of ${pixels.total} pixels differ from the background`);
    if (pixels.differing < pixels.total * 0.01) throw new Error(`GLB viewer looks blank: ${JSON.stringify(pixels)}`);
  });

  await step('cancel', page, async () => {
    const id = await run('kilnctl', ['submit', 'debug.sleep', '--params', '{"seconds": 300}'], kiln);
    await page.goto(`${farm.http}/#/jobs/${id}`);
    await until(`job ${id} to run`, async () => ['running', 'assigned'].includes(await badgeState(page)), 60000);
    await page.click('#cancel');
    await until(`job ${id} to be cancelled`, async () => (await badgeState(page)) === 'cancelled', 30000);
    const stored = await page.evaluate(async (url) => (await fetch(url)).json(), `${farm.http}/api/v1/jobs/${id}`);
    if (stored.state !== 'JOB_STATE_CANCELLED') throw new Error(`stored state ${stored.state}`);
  });

  await step('queue', page, async () => {
    await page.goto(`${farm.http}/#/queue`);
    await page.waitForSelector('.stats .stat', { timeout: 30000 });
  });

  await step('tenants', page, async () => {
    // A scheduler with tokens: alice (tenant acme) and bob (tenant beta) are users. No
    // worker: alice's job stays queued, which is enough to be seen or not.
    const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
    const tokensFile = path.join(tmp, 'tokens.json');
    fs.writeFileSync(tokensFile, JSON.stringify({ tokens: [
      { name: 'alice', sha256: sha('alice-secret'), tenant: 'acme', role: 'user' },
      { name: 'bob', sha256: sha('bob-secret'), tenant: 'beta', role: 'user' },
    ] }));
    const tenants = await startScheduler('tenants', [`--auth-tokens=${tokensFile}`]);
    dashboards.push(tenants.http);
    const id = await run('kilnctl', ['submit', 'debug.sleep', '--params', '{"seconds": 1}'],
      { KILN_ADDR: tenants.grpc, KILN_TOKEN: 'alice-secret' });
    log(`acme's job ${id}`);
    const signIn = async (secret) => {
      await page.goto(`${tenants.http}/#/jobs`);
      await page.fill('#token', secret);
      await page.press('#token', 'Enter');
    };
    // Without a token the API refuses, and the page says to sign in.
    const anonymous = await fetch(`${tenants.http}/api/v1/jobs/${id}`);
    if (anonymous.status !== 401) throw new Error(`no token: HTTP ${anonymous.status}, expected 401`);
    await signIn('bob-secret');
    await page.waitForSelector('#jobs-loaded, main p.muted:text("No jobs match.")', { timeout: 30000 });
    if (await page.locator(`tr[data-job-id="${id}"]`).count() !== 0) throw new Error(`beta sees acme's job ${id} in the list`);
    await page.goto(`${tenants.http}/#/jobs/${id}`);
    await page.waitForSelector('main div.error', { timeout: 30000 });
    const said = await page.locator('main div.error').first().innerText();
    if (!/not found/i.test(said)) throw new Error(`beta opening acme's job: "${said}", expected not found`);
    const asBob = await fetch(`${tenants.http}/api/v1/jobs/${id}`, { headers: { Authorization: 'Bearer bob-secret' } });
    if (asBob.status !== 404) throw new Error(`bob's API call for acme's job: HTTP ${asBob.status}, expected 404`);
    // The owner sees it.
    await signIn('alice-secret');
    await page.waitForSelector(`tr[data-job-id="${id}"]`, { timeout: 30000 });
    await page.evaluate(() => localStorage.removeItem('kiln.token'));
  });

  await step('jobs-10000', page, async () => {
    const speed = await startScheduler('speed');
    dashboards.push(speed.http);
    await run('kiln-load', ['--mode=submit', `--addr=${speed.grpc}`, '--jobs=10000', '--batch=100', '--clients=4'], {});
    // Count them through the API (from Node: the page's CSP allows only its own origin).
    let total = 0;
    let token = '';
    do {
      const answer = await (await fetch(`${speed.http}/api/v1/jobs?page_size=1000${token ? `&page_token=${token}` : ''}`)).json();
      total += (answer.jobs || []).length;
      token = answer.next_page_token || '';
    } while (token);
    if (total < 10000) throw new Error(`the store holds ${total} jobs, not 10000`);
    const timings = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await page.goto(`${speed.http}/#/jobs`);
      await page.waitForSelector('table.jobs tbody tr', { timeout: 30000 });
      timings.push(Date.now() - t0);
      if (i === 0) await page.screenshot({ path: path.join(artifacts, 'jobs-10000.png') });
    }
    const t0 = Date.now();
    await page.goto(`${speed.http}/#/jobs?state=queued&label=nomatch%3D1`);
    await page.waitForSelector('main p.muted:text("No jobs match.")', { timeout: 30000 });
    const filtered = Date.now() - t0;
    timings.sort((a, b) => a - b);
    const median = timings[2];
    log(`FIGURE jobs page with 10000 jobs: median ${median} ms of 5 loads (${timings.join(', ')} ms); a filter matching nothing: ${filtered} ms`);
    fs.writeFileSync(path.join(artifacts, 'jobs-10000.json'), JSON.stringify({ jobs: total, loads_ms: timings, median_ms: median, filtered_nomatch_ms: filtered }, null, 2));
    // The figure is the goal (under 1 s, bench/README.md); CTest's bound is looser so that a
    // loaded 2-core CI machine does not fail it, yet a page that scanned the store would.
    if (median >= maxJobsPageMs) throw new Error(`jobs page took ${median} ms (median) with 10000 jobs`);
  });

  results.push(foreign.length ? { name: 'no-external-fetches', ok: false, error: foreign.join(', ') }
    : { name: 'no-external-fetches', ok: true });
  log(`${foreign.length ? 'FAIL' : 'PASS'} no-external-fetches ${foreign.join(', ')}`);
  if (consoleErrors.length) log(`console errors: ${consoleErrors.join(' | ')}`);
  await browser.close();
}

let code = 0;
try {
  await main();
} catch (error) {
  log(`ERROR ${error.stack || error}`);
  code = 1;
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => { c.once('exit', r); setTimeout(r, 10000); }))));
  fs.writeFileSync(path.join(artifacts, 'results.json'), JSON.stringify(results, null, 2));
  for (const name of fs.readdirSync(tmp)) {
    if (name.endsWith('.log')) fs.copyFileSync(path.join(tmp, name), path.join(artifacts, name));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok);
log(`${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${artifacts}`);
process.exit(code || (failed.length ? 1 : 0));
