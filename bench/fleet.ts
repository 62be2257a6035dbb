/**
 * Fleet cost on one Redis: N `msb worker` processes (N = 1, 2, 4, 8) on the import queue against one private
 * redis-server. Per N it measures, from Redis's own counters (INFO commandstats, INFO stats total_net_*_bytes):
 *   idle:   commands/s and bytes/s of N idle workers (BullMQ's blocking fetch loop + msb's registry heartbeat)
 *   scrape: commands and bytes of one GET /metrics on a worker (the queue gauges read BullMQ's counts)
 *   jobs:   M small import jobs (inspect an ONNX model, write its config, publish) enqueued with ConversionClient,
 *           jobs/s until every model is published, and Redis commands and bytes per job (enqueue + run + complete)
 * These per-operation figures feed the capacity model in docs/deploy.md. Completion is watched on the store's
 * files, not through Redis, so the watching adds nothing to the counters (one getJobCounts at the end confirms).
 * Usage: npm run bench:fleet [-- --jobs M] [-- --workers 1,2,4,8]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ConversionClient, IMPORT_QUEUE, QUEUE_PREFIX, writeSampleModels } from '../src/jobs/index.js';
import { freePort } from '../src/jobs/redis-server.js';
import { TestRedis } from '../test/helpers/redis.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? (process.argv[i + 1] as string) : fallback;
}
const M = Number(arg('--jobs', '120'));
const SIZES = arg('--workers', '1,2,4,8').split(',').map(Number);
const IDLE_SECONDS = 10;

const root = path.resolve(import.meta.dirname, '..');
// the built CLI when there is one (what a pod runs), else the sources through tsx
const built = path.join(root, 'dist/cli/main.js');
const cli = existsSync(built) ? [built] : ['--import', 'tsx', path.join(root, 'src/cli/main.ts')];

const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-bench-fleet-'));
const redis = await TestRedis.start();
const admin = new Redis(redis.url);
const [sample] = await writeSampleModels(dir);
const source = sample?.file as string;

interface Counters {
  calls: number;
  byCommand: Map<string, number>;
  netIn: number;
  netOut: number;
  /** Redis's own CPU time (user + sys), seconds: what saturates a primary first */
  cpu: number;
}

/** Redis's own counters. The INFO calls themselves are subtracted by the callers (2 per measurement). */
async function counters(): Promise<Counters> {
  const [stats, cmd, cpu] = await Promise.all([admin.info('stats'), admin.info('commandstats'), admin.info('cpu')]);
  const byCommand = new Map<string, number>();
  for (const m of cmd.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) byCommand.set(m[1] as string, Number(m[2]));
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return {
    calls: [...byCommand.values()].reduce((a, b) => a + b, 0),
    byCommand,
    netIn: field('total_net_input_bytes'),
    netOut: field('total_net_output_bytes'),
    cpu: ['used_cpu_user', 'used_cpu_sys'].reduce(
      (sum, f) => sum + Number(new RegExp(`^${f}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? 0),
      0,
    ),
  };
}

function delta(a: Counters, b: Counters) {
  const top = [...b.byCommand]
    .map(([c, n]) => [c, n - (a.byCommand.get(c) ?? 0)] as const)
    .filter(([c, n]) => n > 0 && c !== 'info')
    .sort((x, y) => y[1] - x[1]);
  const infoCalls = (b.byCommand.get('info') ?? 0) - (a.byCommand.get('info') ?? 0);
  return {
    calls: b.calls - a.calls - infoCalls,
    bytes: b.netIn - a.netIn + (b.netOut - a.netOut),
    cpu: b.cpu - a.cpu,
    top,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startWorker(store: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [...cli, 'worker', '--redis', redis.url, '--store', store, '--metrics-port', String(port), '--grace', '5'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MSB_LOG: 'silent' } },
  );
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  for (let t = 0; t < 600; t++) {
    if (proc.exitCode !== null) throw new Error(`worker exited ${proc.exitCode}: ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { proc, port };
    await sleep(200);
  }
  throw new Error(`worker did not become healthy: ${stderr}`);
}

async function stopWorker(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000).then(() => proc.kill('SIGKILL'))]);
}

async function published(store: string, names: string[]): Promise<number> {
  return names.filter((n) => existsSync(path.join(store, n, 'config.pbtxt'))).length;
}

interface Row {
  n: number;
  idleCallsPerSec: number;
  idleBytesPerSec: number;
  scrapeCalls: number;
  scrapeBytes: number;
  jobsPerSec: number;
  callsPerJob: number;
  bytesPerJob: number;
  cpuUsPerJob: number;
  idleCpuUsPerSec: number;
  topPerJob: string;
  /** Redis connections per idle worker (the bench's own admin connection left out) */
  clientsPerWorker: number;
  topIdle: string;
}

const rows: Row[] = [];
try {
  for (const n of SIZES) {
    await admin.flushall();
    const store = path.join(dir, `store-${n}`);
    const workers = await Promise.all(Array.from({ length: n }, () => startWorker(store)));
    await sleep(2000); // let every worker settle into its blocking fetch
    // idle
    const i0 = await counters();
    const t0 = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const i1 = await counters();
    const idleSec = (performance.now() - t0) / 1000;
    const idle = delta(i0, i1);
    const clients = Number(/^connected_clients:(\d+)/m.exec(await admin.info('clients'))?.[1] ?? 0) - 1;
    // one scrape (idle workers keep running meanwhile: subtract their rate over the scrape's time)
    const s0 = await counters();
    const ts = performance.now();
    const body = await (await fetch(`http://127.0.0.1:${workers[0]?.port}/metrics`)).text();
    const s1 = await counters();
    const scrapeSec = (performance.now() - ts) / 1000;
    if (!body.includes('msb_')) throw new Error('metrics scrape returned no msb_ gauges');
    const scrape = delta(s0, s1);
    // jobs
    const client = new ConversionClient({ redis: url() });
    const names = Array.from({ length: M }, (_, i) => `fleet${n}_${i}`);
    const j0 = await counters();
    const tj = performance.now();
    for (const model of names) await client.enqueue({ kind: 'import', source, output: { model } });
    while ((await published(store, names)) < M) await sleep(100);
    const jobSec = (performance.now() - tj) / 1000;
    await sleep(500); // the last completions reach Redis just after the files
    const j1 = await counters();
    const jobs = delta(j0, j1);
    const q = new Queue(IMPORT_QUEUE, { connection: { url: url() }, prefix: QUEUE_PREFIX });
    const { completed } = await q.getJobCounts('completed');
    await q.close();
    await client.close();
    if (completed !== M) throw new Error(`expected ${M} completed jobs, Redis says ${completed}`);
    // the idle loops ran during the jobs too: their share is subtracted so the per-job figure is the jobs' own
    const idleRate = idle.calls / idleSec;
    const idleBytes = idle.bytes / idleSec;
    rows.push({
      n,
      idleCallsPerSec: idleRate,
      idleBytesPerSec: idleBytes,
      scrapeCalls: Math.max(0, scrape.calls - idleRate * scrapeSec),
      scrapeBytes: Math.max(0, scrape.bytes - idleBytes * scrapeSec),
      jobsPerSec: M / jobSec,
      callsPerJob: (jobs.calls - idleRate * (jobSec + 0.5)) / M,
      bytesPerJob: (jobs.bytes - idleBytes * (jobSec + 0.5)) / M,
      cpuUsPerJob: ((jobs.cpu - (idle.cpu / idleSec) * (jobSec + 0.5)) / M) * 1e6,
      idleCpuUsPerSec: (idle.cpu / idleSec) * 1e6,
      clientsPerWorker: clients / n,
      topIdle: idle.top
        .slice(0, 6)
        .map(([c, k]) => `${c} ${(k / idleSec / n).toFixed(2)}`)
        .join(', '),
      topPerJob: jobs.top
        .slice(0, 6)
        .map(([c, k]) => `${c} ${(k / M).toFixed(1)}`)
        .join(', '),
    });
    await Promise.all(workers.map((w) => stopWorker(w.proc)));
  }
  console.log(
    `${M} import jobs per row, one redis-server, workers as processes (${cli[0] === built ? 'dist' : 'tsx'}); ${os.cpus().length} CPUs`,
  );
  console.log(
    'workers | jobs/s | cmds/job | bytes/job | Redis CPU µs/job | idle Redis CPU µs/s | idle cmds/s (all) | idle cmds/s/worker | idle B/s/worker | scrape cmds | scrape bytes',
  );
  for (const r of rows) {
    console.log(
      [
        r.n,
        r.jobsPerSec.toFixed(1),
        r.callsPerJob.toFixed(1),
        r.bytesPerJob.toFixed(0),
        r.cpuUsPerJob.toFixed(0),
        r.idleCpuUsPerSec.toFixed(0),
        r.idleCallsPerSec.toFixed(2),
        (r.idleCallsPerSec / r.n).toFixed(2),
        (r.idleBytesPerSec / r.n).toFixed(0),
        r.scrapeCalls.toFixed(0),
        r.scrapeBytes.toFixed(0),
      ].join(' | '),
    );
  }
  for (const r of rows) console.log(`N=${r.n} commands per job: ${r.topPerJob}`);
  for (const r of rows)
    console.log(`N=${r.n} idle, per worker: ${r.clientsPerWorker.toFixed(1)} connections; commands/s: ${r.topIdle}`);
  const base = rows[0];
  if (base)
    for (const r of rows.slice(1))
      console.log(`N=${r.n}: jobs/s ${(r.jobsPerSec / base.jobsPerSec).toFixed(2)}x of N=${base.n}`);
} finally {
  admin.disconnect();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}

function url(): string {
  return redis.url;
}
