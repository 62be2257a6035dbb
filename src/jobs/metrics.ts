/**
 * Queue gauges for Prometheus, read from BullMQ's own counts. `msb_queue_backlog{queue}` is what an autoscaler
 * scales a GPU pool on (KEDA's Prometheus scaler, see deploy/kubernetes): the jobs waiting for a worker, that is
 * waiting + prioritized + delayed. BullMQ keeps prioritized jobs in a sorted set of their own, not in the `wait`
 * list, so a trigger on the list's length alone misses them.
 */
import { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisLink } from '../redis/index.js';
import { IMPORT_QUEUE, QUEUE_PREFIX } from './spec.js';
import { type ConversionWorker, KEYS } from './worker.js';

/** The job states the gauges report, and those that make up the backlog. */
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
const BACKLOG: readonly string[] = ['waiting', 'prioritized', 'delayed'];

/** Jobs waiting for a worker, from BullMQ's counts. */
export function backlogOf(counts: Record<string, number>): number {
  return BACKLOG.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
}

/**
 * `msb_queue_backlog{queue}` from per-queue BullMQ counts read at each scrape: the gauge KEDA scales a GPU pool on
 * (deploy/kubernetes). Part of {@link registerQueueMetrics}, which the workers and `msb serve` (for every known
 * queue, so that a pool scaled to zero is still measured) both use.
 */
function registerBacklogGauge(
  registry: Registry,
  read: () => Promise<Iterable<{ name: string; counts: Record<string, number> }>>,
): Gauge {
  return new Gauge({
    name: 'msb_queue_backlog',
    help: 'Jobs waiting for a worker: waiting + prioritized + delayed (scale GPU pools on this)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await read()) this.set({ queue: q.name }, backlogOf(q.counts));
    },
  });
}

export interface QueueMetrics {
  close(): Promise<void>;
}

/**
 * Every queue msb has enqueued to (the job index names each job's queue), and the import queue. What a process
 * that serves no queue itself (`msb serve`) exports, so that a pool scaled to zero still has its backlog measured.
 */
export async function knownQueues(link: RedisLink): Promise<string[]> {
  const names = await link.connection.hvals(KEYS.jobQueue);
  return [...new Set([IMPORT_QUEUE, ...names])].sort();
}

/**
 * Registers `msb_queue_jobs{queue,state}`, `msb_queue_backlog{queue}` and `msb_redis_up` on `registry`, read at
 * each scrape through `link` (the queues share its connection). `queueNames`: fixed (a worker's queues) or read at
 * each scrape (e.g. {@link knownQueues}). While Redis is down the queue gauges are left out of the scrape rather
 * than stale (a scrape never waits on Redis) and `msb_redis_up` is 0.
 */
export function registerQueueMetrics(
  registry: Registry,
  link: RedisLink,
  queueNames: string[] | (() => Promise<string[]>),
): QueueMetrics {
  const queues = new Map<string, Queue>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: link.connection, prefix: QUEUE_PREFIX });
      q.on('error', (err) => link.report(err));
      queues.set(name, q);
    }
    return q;
  };
  const readCounts = async () => {
    const names = typeof queueNames === 'function' ? await queueNames() : queueNames;
    return Promise.all(names.map(async (name) => ({ queue: name, counts: await queue(name).getJobCounts(...STATES) })));
  };
  // Redis lost during a scrape: answer without the queue gauges after 2 s rather than hang the scrape
  const read = async () => {
    if (!link.ready) return undefined;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      readCounts(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), 2000);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  let pending: ReturnType<typeof read> | undefined;
  // both gauges collect in one scrape: one round of counts serves them
  const counts = () => {
    pending ??= read().finally(() => {
      setImmediate(() => (pending = undefined));
    });
    return pending;
  };
  new Gauge({
    name: 'msb_redis_up',
    help: 'Whether Redis answers (1) or not (0)',
    registers: [registry],
    collect() {
      this.set(link.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'msb_queue_jobs',
    help: 'Jobs in a queue, by state (BullMQ counts)',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { queue, counts: c } of (await counts()) ?? [])
        for (const [state, n] of Object.entries(c)) this.set({ queue, state }, n);
    },
  });
  registerBacklogGauge(registry, async () =>
    ((await counts()) ?? []).map(({ queue, counts: c }) => ({ name: queue, counts: c })),
  );
  return {
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
    },
  };
}

/**
 * The metrics of one {@link ConversionWorker} on `registry`: `msb_jobs_total{queue,outcome}` (jobs it finished),
 * `msb_build_seconds` (its TensorRT builds), and {@link registerQueueMetrics} for its queues. `msb worker` serves
 * them on `--metrics-port`; a program running its own worker gets the same by calling this. `close()` stops
 * counting and closes the queue gauges' connections (call it after the worker's own close).
 */
export function registerWorkerMetrics(registry: Registry, worker: ConversionWorker): QueueMetrics {
  const jobs = new Counter({
    name: 'msb_jobs_total',
    help: 'Jobs finished by this worker',
    labelNames: ['queue', 'outcome'],
    registers: [registry],
  });
  const buildSeconds = new Histogram({
    name: 'msb_build_seconds',
    help: 'TensorRT build time',
    buckets: [1, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  const gauges = registerQueueMetrics(registry, worker.link, worker.queues);
  const stop = worker.on((e) => {
    jobs.inc({ queue: e.queue, outcome: e.type });
    if (e.type === 'completed' && e.result.buildSeconds) buildSeconds.observe(e.result.buildSeconds);
  });
  return {
    close: async () => {
      stop();
      await gauges.close();
    },
  };
}
