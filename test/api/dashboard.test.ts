/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core; no browser download): login form
 * without a token, a live worker on the overview, a job enqueued through the API reaching done on the jobs page
 * without a reload, cancel from the job page. Takes the screenshots docs/serve.md shows: into docs/img/ only with
 * MSB_UPDATE_SCREENSHOTS=1 (so a plain `npm test` leaves the work tree clean), otherwise into a temp dir.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';
import { type Harness, startHarness } from './harness.js';

/** The little of the DOM the page functions below use (they run in the browser; the project has no DOM lib). */
interface El {
  textContent: string | null;
  style: { width: string };
}
declare const document: { querySelector(s: string): El | null; getElementById(id: string): El | null };

const CHROMIUM = '/usr/bin/chromium';
const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
const skip = existsSync(CHROMIUM) ? skipWithout(conv) : `no ${CHROMIUM} (apt-get install chromium)`;
const updateShots = process.env.MSB_UPDATE_SCREENSHOTS === '1';
let shots: string;

let h: Harness;
let context: BrowserContext;
let page: Page;
let profile: string;
let artifact: string;

before(async () => {
  if (skip) return;
  // 100 steps of 50 ms: a build runs for about 5 s, long enough to watch and to cancel.
  h = await startHarness({ builderSteps: 100 });
  profile = await mkdtemp(path.join(os.tmpdir(), 'msb-chromium-'));
  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 720 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  shots = updateShots ? path.join(repoRoot, 'docs', 'img') : await mkdtemp(path.join(os.tmpdir(), 'msb-shots-'));
  await mkdir(shots, { recursive: true });
  const r = await h.call('/v1/artifacts', { method: 'PUT', body: await readFile(conv), token: h.tokens.enqueue });
  artifact = ((await r.json()) as { id: string }).id;
});
after(async () => {
  if (skip) return;
  await context.close();
  await rm(profile, { recursive: true, force: true });
  if (!updateShots) await rm(shots, { recursive: true, force: true });
  await h.close();
});

async function enqueueBuild(model: string, optimizationLevel: number): Promise<string> {
  const r = await h.call('/v1/jobs', {
    method: 'POST',
    token: h.tokens.enqueue,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'build',
      source: artifact,
      target: { tensorrt: '10.8', gpu: '8.6' },
      build: { optimizationLevel },
      output: { model },
    }),
  });
  assert.equal(r.status, 202);
  return ((await r.json()) as { id: string }).id;
}

test('without a token the dashboard shows the login form', { skip }, async () => {
  const res = await page.goto(`${h.server.url}/`);
  assert.equal(res?.status(), 401);
  await page.locator('input[name=token]').waitFor();
  assert.equal(await page.locator('form[action="/login"] button').textContent(), 'Log in');
  await page.screenshot({ path: path.join(shots, 'serve-login.png') });
});

test('logging in shows the overview with the live worker', { skip }, async () => {
  await page.goto(`${h.server.url}/login`);
  await page.fill('input[name=token]', h.tokens.readEnqueue);
  await page.click('form[action="/login"] button');
  await page.waitForURL(`${h.server.url}/`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'msb_session');
  assert.equal(session?.httpOnly, true);
  assert.equal(session?.sameSite, 'Strict');
  const row = page.locator('table.workers tr.worker');
  await row.first().waitFor();
  assert.match((await row.first().textContent()) ?? '', new RegExp(h.worker.id.slice(0, 8)));
  assert.match((await row.first().textContent()) ?? '', /msb-import/);
  await page.screenshot({ path: path.join(shots, 'serve-overview.png') });
});

test('a job enqueued through the API appears on the jobs page and reaches done without a reload', {
  skip,
}, async () => {
  await page.goto(`${h.server.url}/jobs`);
  let navigations = 0;
  const count = (f: { parentFrame(): unknown }) => {
    if (!f.parentFrame()) navigations++;
  };
  page.on('framenavigated', count);
  const id = await enqueueBuild('conv_dash', 1);
  const row = page.locator(`tr[data-job="${id}"]`);
  await row.waitFor({ timeout: 30_000 });
  await page.waitForFunction(
    (jobId) => document.querySelector(`tr[data-job="${jobId}"] .state`)?.textContent === 'active',
    id,
    { timeout: 30_000 },
  );
  await page.screenshot({ path: path.join(shots, 'serve-jobs.png') });
  await page.waitForFunction(
    (jobId) =>
      document.querySelector(`tr[data-job="${jobId}"] .state`)?.textContent === 'completed' &&
      document.querySelector(`tr[data-job="${jobId}"] .pct`)?.textContent === '100%',
    id,
    { timeout: 60_000 },
  );
  page.off('framenavigated', count);
  assert.equal(navigations, 0, 'no reload');
});

test('cancel on the job page cancels the running job; the page follows it live', { skip }, async () => {
  const id = await enqueueBuild('conv_cancel', 2);
  await page.goto(`${h.server.url}/jobs/${id}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'active', undefined, {
    timeout: 30_000,
  });
  await page.waitForFunction(
    () => Number.parseFloat(document.getElementById('bar')?.style.width ?? '0') > 0,
    undefined,
    {
      timeout: 30_000,
    },
  );
  await page.screenshot({ path: path.join(shots, 'serve-job.png') });
  await page.click('#cancel');
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'failed', undefined, {
    timeout: 30_000,
  });
  assert.equal(await page.locator('#reason').textContent(), 'cancelled');
  // A failed job can be retried, no longer cancelled.
  assert.equal(await page.locator('#cancel').isDisabled(), true);
  assert.equal(await page.locator('#retry').isDisabled(), false);
  const info = (await (await h.call(`/v1/jobs/${id}`, { token: h.tokens.read })).json()) as {
    state: string;
    failedReason: string;
  };
  assert.deepEqual([info.state, info.failedReason], ['failed', 'cancelled']);
});

test('the store view lists the published model with its versions', { skip }, async () => {
  await page.goto(`${h.server.url}/models`);
  const link = page.locator('a[href="/models/conv_dash"]');
  await link.waitFor();
  await page.screenshot({ path: path.join(shots, 'serve-store.png') });
  await link.click();
  await page.locator('pre').first().waitFor();
  assert.match((await page.locator('pre').first().textContent()) ?? '', /platform: "tensorrt_plan"/);
  // The overview again, now with recent jobs and build times, for the docs.
  await page.goto(`${h.server.url}/`);
  await page.locator('table.workers tr.worker').first().waitFor();
  await page.screenshot({ path: path.join(shots, 'serve-overview.png'), fullPage: true });
});

test('a completed job offers neither Cancel nor Retry', { skip }, async () => {
  const jobs = (await (await h.call('/v1/jobs?state=completed', { token: h.tokens.read })).json()) as {
    jobs: { id: string }[];
  };
  const id = jobs.jobs[0]?.id as string;
  await page.goto(`${h.server.url}/jobs/${id}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'completed');
  assert.equal(await page.locator('#cancel').isDisabled(), true);
  assert.equal(await page.locator('#retry').isDisabled(), true);
});

test('cancelling a waiting build says it was cancelled (not "done" with state "removed")', { skip }, async () => {
  // A target no worker serves: the job waits.
  const r = await h.call('/v1/jobs', {
    method: 'POST',
    token: h.tokens.enqueue,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'build',
      source: artifact,
      target: { tensorrt: '10.8', gpu: '9.0' },
      output: { model: 'w' },
    }),
  });
  const id = ((await r.json()) as { id: string }).id;
  await page.goto(`${h.server.url}/jobs/${id}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'waiting');
  await page.click('#cancel');
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'cancelled', undefined, {
    timeout: 10_000,
  });
  assert.match((await page.locator('#message').textContent()) ?? '', /^cancelled: removed from its queue/);
  assert.equal(await page.locator('#cancel').isDisabled(), true);
});

test('/jobs?state=bogus is refused (400) as the API refuses it, not an empty table', { skip }, async () => {
  const res = await page.goto(`${h.server.url}/jobs?state=bogus`);
  assert.equal(res?.status(), 400);
  assert.match((await page.locator('main').textContent()) ?? '', /invalid request: state: /);
  assert.equal((await page.goto(`${h.server.url}/jobs?state=`))?.status(), 200, 'the form\'s "any"');
});

test('Bull Board asks nothing of fonts.googleapis.com (offline clusters) and links back to the dashboard', {
  skip,
}, async () => {
  const outside: string[] = [];
  const watch = (req: { url(): string }) => {
    if (!req.url().startsWith(h.server.url)) outside.push(req.url());
  };
  page.on('request', watch);
  await page.goto(`${h.server.url}/queues`);
  await page.waitForLoadState('networkidle');
  page.off('request', watch);
  assert.deepEqual(outside, []);
  const config = JSON.parse((await page.locator('#__UI_CONFIG__').textContent()) ?? '{}') as {
    miscLinks?: { text: string; url: string }[];
  };
  assert.deepEqual(config.miscLinks, [{ text: '← msb dashboard', url: '/' }]);
});

test('at 390 px wide the header wraps instead of overflowing the page', { skip }, async () => {
  await page.setViewportSize({ width: 390, height: 720 });
  try {
    await page.goto(`${h.server.url}/`);
    await page.locator('header').waitFor();
    const widths = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document;
      return d.documentElement.scrollWidth;
    });
    assert.ok(widths <= 390, `the page is ${widths} px wide`);
    await page.screenshot({ path: path.join(shots, 'serve-narrow.png') });
  } finally {
    await page.setViewportSize({ width: 1100, height: 720 });
  }
});
