/**
 * HTTP API overhead, each measurement against its baseline in the same run:
 *   enqueue: POST /v1/jobs (artifact already uploaded) against ConversionClient.enqueue directly, same Redis, same
 *     specs, same number of requests in flight; jobs/s. Target: HTTP >= 0.7x direct.
 *   upload: PUT /v1/artifacts of a 1 GiB body over loopback against a plain Node http server piping the body to a
 *     file; MiB/s, and each server's peak RSS (VmHWM of its own process). Target: >= 0.8x, msb serve < 150 MiB.
 * Usage: npm run bench:api [-- --jobs N --mib M]   (builds dist/ first; starts its own redis-server; the servers run
 * as child processes). MSB_BENCH_SERVE_ARGS adds node options to the msb serve child, e.g.
 * MSB_BENCH_SERVE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile it (written when it exits).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConversionClient, writeSampleModels } from '../src/jobs/index.js';
import { ModelStore } from '../src/store/index.js';
import { TestRedis } from '../test/helpers/redis.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const JOBS = arg('--jobs', 2000);
const MIB = arg('--mib', 1024);
const IN_FLIGHT = 16;
const WARMUP = 200;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-bench-api-'));
const redis = await TestRedis.start();
const children: ChildProcess[] = [];

/** Starts a server child process and waits until it prints its URL. */
function startChild(args: string[], pattern: RegExp): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let seen = '';
    const look = (d: Buffer) => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m?.[1]) resolve({ url: m[1], proc });
    };
    proc.stdout?.on('data', look);
    proc.stderr?.on('data', look);
    proc.on('exit', (code) => reject(new Error(`server exited (${code}): ${seen}`)));
  });
}

/** Peak resident set of a process so far (Linux: VmHWM), MiB; with `now`, the current one (VmRSS). */
async function peakRssMiB(pid: number, now = false): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${now ? 'VmRSS' : 'VmHWM'}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return kb / 1024;
}

/** Starts a new peak (Linux: writing 5 to clear_refs resets VmHWM to the current RSS). */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** Runs `n` tasks with `width` in flight; returns tasks per second. */
async function throughput(n: number, width: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

/**
 * The HTTP client of the enqueue rounds: node:http on kept-alive connections, one per request in flight. It shares
 * the machine's cores with the server and Redis, so it is the lightest client Node has (fetch costs this process
 * about twice the CPU per request, which showed as server slowness on a 2-core machine).
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.end(body);
  });
}

/** PUTs `mib` MiB (a random 1 MiB block repeated, first bytes varied by `salt`) with backpressure; MiB/s. */
function upload(url: string, mib: number, salt: number): Promise<number> {
  const block = randomBytes(1024 * 1024);
  const first = Buffer.from(block);
  first.writeUInt32BE(salt, 0);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.request(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': mib * 1024 * 1024 },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`upload answered ${res.statusCode}`));
        else resolve(mib / ((performance.now() - start) / 1000));
      });
    });
    let sent = 0;
    const pump = () => {
      while (sent < mib) {
        const ok = req.write(sent === 0 ? first : block);
        sent++;
        if (!ok) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** The baseline: a plain Node http server piping the body to a file; with a second argument, fsync before answering. */
const PLAIN_SERVER = `
const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path');
let n = 0;
const server = http.createServer((req, res) => {
  const file = path.join(process.argv[1], 'plain-' + (n++));
  const out = fs.createWriteStream(file);
  req.pipe(out);
  out.on('finish', () => {
    if (!process.argv[2]) return res.writeHead(201).end();
    const fd = fs.openSync(file, 'r'); fs.fsyncSync(fd); fs.closeSync(fd); res.writeHead(201).end();
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening http://127.0.0.1:' + server.address().port));
`;

try {
  const store = path.join(dir, 'store');
  await ModelStore.open(store, { create: true });
  // The built CLI (npm run build), as it is deployed: no TypeScript loader in the server's memory.
  const tsx = [
    ...(process.env.MSB_BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean),
    path.join(root, 'dist', 'cli', 'main.js'),
  ];
  const msb = await startChild(
    [
      ...tsx,
      'serve',
      '--port',
      '0',
      '--redis',
      redis.url,
      '--store',
      store,
      '--artifacts',
      path.join(dir, 'artifacts'),
      '--max-artifact-bytes',
      String((MIB + 1) * 1024 * 1024),
    ],
    /at (http:\/\/127\.0\.0\.1:\d+)\//,
  );

  // Idle: started and ready, nothing asked yet (Bull Board is loaded on the first /queues request).
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = await peakRssMiB(msb.proc.pid as number, true);
  console.error(`msb serve at ${msb.url}; enqueue rounds…`);
  // ---- enqueue ----
  const [sample] = await writeSampleModels(dir);
  const put = await fetch(`${msb.url}/v1/artifacts`, { method: 'PUT', body: await readFile(sample?.file as string) });
  const artifact = (await put.json()) as { id: string; digest: string };
  const artifactPath = path.join(dir, 'artifacts', 'sha256', artifact.digest.slice(7, 9), artifact.digest.slice(7));
  const client = new ConversionClient({ redis: redis.url });
  const direct1 = async (name: string) => {
    await client.enqueue({ kind: 'import', source: artifactPath, output: { model: name } });
  };
  const http1 = async (name: string) => {
    const r = await post(
      `${msb.url}/v1/jobs`,
      JSON.stringify({ kind: 'import', source: artifact.id, output: { model: name } }),
    );
    if (r.status !== 202) throw new Error(`enqueue answered ${r.status}: ${r.text}`);
  };
  // Warm-up, the same for both (JIT, connections, Redis scripts), not measured.
  await throughput(WARMUP, IN_FLIGHT, (i) => direct1(`warm_direct_${i}`));
  await throughput(WARMUP, IN_FLIGHT, (i) => http1(`warm_http_${i}`));
  // Two rounds, alternating, so a machine getting busier or Redis growing weighs on both sides alike.
  const rates = { direct: [] as number[], http: [] as number[] };
  for (let round = 0; round < 2; round++) {
    rates.direct.push(await throughput(JOBS / 2, IN_FLIGHT, (i) => direct1(`direct${round}_${i}`)));
    rates.http.push(await throughput(JOBS / 2, IN_FLIGHT, (i) => http1(`http${round}_${i}`)));
  }
  await client.close();
  agent.destroy();
  const mean = (xs: number[]) => xs.length / xs.reduce((a, x) => a + 1 / x, 0);
  const direct = mean(rates.direct);
  const viaHttp = mean(rates.http);
  // Server-side time per POST, from the server's own histogram: what the server adds, apart from the HTTP client.
  const metrics = await (await fetch(`${msb.url}/metrics`)).text();
  const sum = Number(
    /^msb_http_request_duration_seconds_sum\{method="POST",route="\/v1\/jobs",status="202"\} (\S+)$/m.exec(
      metrics,
    )?.[1],
  );
  const count = Number(
    /^msb_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} (\S+)$/m.exec(
      metrics,
    )?.[1],
  );
  console.log(`enqueue, ${JOBS} jobs, ${IN_FLIGHT} in flight, same Redis:`);
  console.log(`  ConversionClient directly   ${direct.toFixed(0)} jobs/s`);
  console.log(`  POST /v1/jobs (msb serve)   ${viaHttp.toFixed(0)} jobs/s`);
  console.log(
    `  HTTP/direct ${(viaHttp / direct).toFixed(2)}x (target >= 0.7x); rounds direct ${rates.direct.map((r) => r.toFixed(0))}, http ${rates.http.map((r) => r.toFixed(0))}`,
  );
  console.log(`  server-side time per POST /v1/jobs: mean ${((1000 * sum) / count).toFixed(1)} ms`);

  const afterEnqueueRss = await peakRssMiB(msb.proc.pid as number);
  console.error('uploads…');
  // ---- upload ----
  const plain = await startChild(['-e', PLAIN_SERVER, dir], /listening (http:\/\/127\.0\.0\.1:\d+)/);
  const plainRate = await upload(plain.url, MIB, 1);
  const plainRss = await peakRssMiB(plain.proc.pid as number);
  plain.proc.kill();
  const synced = await startChild(['-e', PLAIN_SERVER, dir, 'fsync'], /listening (http:\/\/127\.0\.0\.1:\d+)/);
  const syncedRate = await upload(synced.url, MIB, 3);
  // The upload's own peak: the enqueue rounds' peak (thousands of requests, not yet collected) is reported apart.
  await resetPeak(msb.proc.pid as number);
  const beforeUploadRss = await peakRssMiB(msb.proc.pid as number, true);
  const msbRate = await upload(`${msb.url}/v1/artifacts`, MIB, 2);
  const msbRss = await peakRssMiB(msb.proc.pid as number);
  console.log(`upload of ${MIB} MiB over loopback, one request each, to a file on the same disk:`);
  console.log(
    `  plain node http -> file     ${plainRate.toFixed(0)} MiB/s, server peak RSS ${plainRss.toFixed(0)} MiB`,
  );
  console.log(`  plain, fsync before 201      ${syncedRate.toFixed(0)} MiB/s (what durability costs on this disk)`);
  console.log(`  PUT /v1/artifacts           ${msbRate.toFixed(0)} MiB/s, server peak RSS ${msbRss.toFixed(0)} MiB`);
  console.log(
    `  msb/plain+fsync ${(msbRate / syncedRate).toFixed(2)}x (target >= 0.8x: both make the file durable before answering), msb/plain ${(msbRate / plainRate).toFixed(2)}x (page cache only)`,
  );
  console.log(
    `  msb serve RSS: idle ${idleRss.toFixed(0)} MiB, peak through the enqueue rounds ${afterEnqueueRss.toFixed(0)} MiB, before the upload ${beforeUploadRss.toFixed(0)} MiB, peak during it ${msbRss.toFixed(0)} MiB (target < 150 MiB)`,
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? undefined
        : new Promise((r) => {
            c.once('exit', r);
            setTimeout(r, 5000);
          }),
    ),
  );
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
