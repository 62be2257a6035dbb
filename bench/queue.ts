/**
 * Queue overhead: msb's ConversionClient + ConversionWorker against raw BullMQ Queue + Worker doing the identical
 * work (inspect a small ONNX model, generate its config, publish it to a store) on the same Redis, in the same run.
 * What differs is msb's layer: spec validation, content hashing, dedup lookup, job registry, worker routing.
 *   latency: enqueue → active (job.processedOn), one job at a time, p50/p99
 *   throughput: N jobs enqueued at once, jobs/s until all completed (one worker, concurrency 1, as msb runs)
 * Usage: npm run bench:queue [-- --jobs N]   (starts its own redis-server on a free port, as bench:cid does)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import {
  ConversionClient,
  ConversionWorker,
  IMPORT_QUEUE,
  QUEUE_PREFIX,
  writeSampleModels,
} from '../src/jobs/index.js';
import { publish } from '../src/publish/index.js';
import { TestRedis } from '../test/helpers/redis.js';

const jobsArg = process.argv.indexOf('--jobs');
const N = jobsArg > 0 ? Number(process.argv[jobsArg + 1]) : 200;
const LATENCY_SAMPLES = Math.min(100, N);

const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-bench-queue-'));
const redis = await TestRedis.start();
const url = redis.url;

const [sample] = await writeSampleModels(dir);
const source = sample?.file as string;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

interface Result {
  p50: number;
  p99: number;
  jobsPerSecond: number;
}

interface Side {
  name: string;
  enqueue(i: number): Promise<{ wait(): Promise<Job> }>;
  close(): Promise<void>;
}

async function rawSide(): Promise<Side> {
  const store = path.join(dir, 'raw-store');
  const queue = new Queue('raw', { connection: { url } });
  queue.setMaxListeners(0);
  const events = new QueueEvents('raw', { connection: { url } });
  events.setMaxListeners(0);
  await events.waitUntilReady();
  const worker = new Worker(
    'raw',
    async (job: Job<{ source: string; model: string }>) => {
      const result = await publish({
        store,
        model: job.data.model,
        source: job.data.source,
        mode: 'create-or-add',
        publishKey: job.id as string,
      });
      return result.version;
    },
    { connection: { url, maxRetriesPerRequest: null }, concurrency: 1 },
  );
  return {
    name: 'raw BullMQ (same work)',
    async enqueue(i) {
      const job = await queue.add('import', { source, model: `m${i}` });
      return {
        wait: async () => {
          await job.waitUntilFinished(events);
          return (await queue.getJob(job.id as string)) as Job;
        },
      };
    },
    async close() {
      await worker.close();
      await events.close();
      await queue.close();
    },
  };
}

async function msbSide(): Promise<Side> {
  const store = path.join(dir, 'msb-store');
  const worker = await ConversionWorker.start({ redis: url, store });
  const client = new ConversionClient({ redis: url });
  // msb's queues live under its prefix (one hash slot on a cluster): a Queue without it reads another queue, and
  // getJob answered undefined (the `processedOn` crash).
  const queue = new Queue(IMPORT_QUEUE, { connection: { url }, prefix: QUEUE_PREFIX });
  queue.setMaxListeners(0);
  return {
    name: 'msb ConversionClient + ConversionWorker',
    async enqueue(i) {
      const handle = await client.enqueue({ kind: 'import', source, output: { model: `m${i}` } });
      return {
        wait: async () => {
          await handle.result();
          const job = await queue.getJob(handle.id);
          if (!job) throw new Error(`job ${handle.id} completed but is not in ${QUEUE_PREFIX}:${IMPORT_QUEUE}`);
          return job;
        },
      };
    },
    async close() {
      await client.close();
      await queue.close();
      await worker.close();
    },
  };
}

async function measure(side: Side, offset: number): Promise<Result> {
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const t0 = Date.now();
    const job = await (await side.enqueue(offset + i)).wait();
    latencies.push((job.processedOn as number) - t0);
  }
  const start = performance.now();
  const handles = await Promise.all(Array.from({ length: N }, (_, i) => side.enqueue(offset + LATENCY_SAMPLES + i)));
  await Promise.all(handles.map((h) => h.wait()));
  const jobsPerSecond = N / ((performance.now() - start) / 1000);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), jobsPerSecond };
}

try {
  const results: Record<string, Result> = {};
  for (const [i, make] of [rawSide, msbSide].entries()) {
    const side = await make();
    results[side.name] = await measure(side, i * 100_000);
    await side.close();
  }
  console.log(`${N} jobs per side (+${LATENCY_SAMPLES} one at a time for latency); same Redis, same work per job`);
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(42)} enqueue→active p50 ${r.p50} ms, p99 ${r.p99} ms; ${r.jobsPerSecond.toFixed(0)} jobs/s`,
    );
  }
  const [raw, msb] = Object.values(results) as [Result, Result];
  console.log(
    `msb/raw: p50 ${(msb.p50 / Math.max(raw.p50, 1)).toFixed(2)}x, p99 ${(msb.p99 / Math.max(raw.p99, 1)).toFixed(2)}x, time per job ${(raw.jobsPerSecond / msb.jobsPerSecond).toFixed(2)}x (target <= 1.2x)`,
  );
} finally {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
