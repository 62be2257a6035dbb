import { EventEmitter } from 'node:events';
import path from 'node:path';
import { type Job, Queue, QueueEvents } from 'bullmq';
import { isMsbError } from '../errors.js';
import { openRedis, type RedisLink, type RedisMode, scanKeys, waitForReplicas } from '../redis/index.js';
import { JobError } from './errors.js';
import { isRemoteSource, sourceDigestOf } from './sources.js';
import { IMPORT_QUEUE, type JobSpecInput, jobKey, parseJobSpec, planKey, QUEUE_PREFIX, queueOf } from './spec.js';
import { type JobData, type JobResult, KEYS, type WorkerInfo } from './worker.js';

export interface ConversionClientOptions {
  /** Redis URL: `redis://`, `rediss://`, `redis+sentinel://…/master`, `redis+cluster://…` (see src/redis). */
  redis: string;
  /**
   * `service` (default): reconnects for ever, calls wait for Redis. `command`: calls fail once Redis has been
   * unreachable for 5 s (the CLI; see {@link ConversionClient.connect}).
   */
  mode?: RedisMode;
  /** Where Redis connection state lines go. Default: stderr in service mode. */
  log?: (line: string) => void;
  /** Command mode: how long Redis may be unreachable before calls fail (default: `$MSB_REDIS_TIMEOUT_MS`, else 5 000). */
  connectTimeoutMs?: number;
  /**
   * Replicas that must confirm an enqueue (`WAIT`) before `enqueue` resolves: with 1, an acknowledged job survives
   * the loss of the primary (Sentinel failover). Not on a cluster. Default: 0 (the primary's word).
   */
  waitReplicas?: number;
  /** How long `enqueue` waits for `waitReplicas` before failing with `MSB_REDIS_NOT_REPLICATED`. Default: 5 000. */
  waitTimeoutMs?: number;
  /** Attempts per job before it fails for good (transient failures only). Default: 3. */
  attempts?: number;
  /** First retry delay; doubles per attempt. Default: 1 000 ms. */
  backoffMs?: number;
}

export type JobState =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'prioritized'
  | 'waiting-children'
  | 'unknown';

/** One queue as {@link ConversionClient.queueStats} reports it. */
export interface QueueStats {
  name: string;
  /** Jobs by BullMQ state. */
  counts: Record<string, number>;
  /** Age of the oldest job waiting to start, null when none waits. */
  oldestWaitingSeconds: number | null;
  /** Whether a live worker consumes this queue. */
  served: boolean;
}

export interface JobInfo {
  id: string;
  queue: string;
  kind: string;
  /** The model the job publishes to (import, build). */
  model?: string;
  state: JobState;
  progress: unknown;
  attemptsMade: number;
  result?: JobResult;
  failedReason?: string;
  /** Set while the job waits on a queue no live worker consumes: what the job needs and who is there. */
  unserved?: string;
  createdAt: number;
}

/** A job enqueued by {@link ConversionClient}: progress events, its result, cancellation. */
export class ConversionHandle extends EventEmitter<{ progress: [unknown] }> {
  constructor(
    private readonly client: ConversionClient,
    readonly id: string,
    readonly queue: string,
    /** True when an identical request was already queued or done: this handle is that job's. */
    readonly deduplicated: boolean,
  ) {
    super();
  }

  /** Waits for the job and returns its result; rejects with the failure reason (`MSB_JOB_FAILED`). */
  result(timeoutMs?: number): Promise<JobResult> {
    return this.client.waitFor(this, timeoutMs);
  }

  /** `removed` for a job no worker had taken; `stop-requested` for a running one (its worker stops it). */
  cancel(): Promise<'removed' | 'stop-requested'> {
    return this.client.cancel(this.id);
  }

  info(): Promise<JobInfo | undefined> {
    return this.client.get(this.id);
  }
}

/**
 * Enqueues conversion jobs for other services and reads their state. Jobs are deduplicated: the job id is a hash
 * of the source bytes, options, target and output, so an identical request returns the first job.
 */
export class ConversionClient {
  private readonly link: RedisLink;
  private readonly queues = new Map<string, Queue<JobData, JobResult>>();
  private readonly events = new Map<string, QueueEvents>();
  /** Handles waiting for progress, by job id. */
  private readonly handles = new Map<string, ConversionHandle>();

  constructor(private readonly options: ConversionClientOptions) {
    this.link = openRedis(options.redis, {
      name: 'msb-client',
      ...(options.mode ? { mode: options.mode } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
  }

  /**
   * A command-mode client whose Redis answered: rejects with `MSB_REDIS_UNREACHABLE` ("cannot reach Redis at URL")
   * instead of waiting, and its calls fail once Redis is gone for 5 s.
   */
  static async connect(options: Omit<ConversionClientOptions, 'mode'>): Promise<ConversionClient> {
    const client = new ConversionClient({ ...options, mode: 'command' });
    try {
      await client.link.connected();
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** The client's Redis connection (its state for `/healthz`). */
  get redis(): RedisLink {
    return this.link;
  }

  private queue(name: string): Queue<JobData, JobResult> {
    let q = this.queues.get(name);
    if (!q) {
      // The queue shares the link's connection; its errors are the link's to log.
      q = new Queue<JobData, JobResult>(name, { connection: this.link.connection, prefix: QUEUE_PREFIX });
      q.on('error', (err) => this.link.report(err));
      q.setMaxListeners(0);
      this.queues.set(name, q);
    }
    return q;
  }

  private async queueEvents(name: string): Promise<QueueEvents> {
    let e = this.events.get(name);
    if (!e) {
      e = new QueueEvents(name, { connection: this.link.connection, prefix: QUEUE_PREFIX });
      // One listener per queue dispatches to the handles; finishEvent adds its own per waiting call.
      e.setMaxListeners(0);
      e.on('error', (err) => this.link.report(err));
      e.on('progress', ({ jobId, data }) => this.handles.get(jobId)?.emit('progress', data));
      const forget = ({ jobId }: { jobId: string }) => this.handles.delete(jobId);
      e.on('completed', forget);
      e.on('failed', forget);
      this.events.set(name, e);
      await e.waitUntilReady();
    }
    return e;
  }

  /**
   * Validates the spec (unknown fields refused), hashes the source (unless `sourceDigest` states it: the HTTP API
   * hashed an upload while it streamed; the worker checks the bytes against it, so a wrong one fails the job, never
   * publishes), and enqueues unless an identical job exists.
   */
  async enqueue(input: JobSpecInput): Promise<ConversionHandle> {
    // A local path is made absolute; s3://, gs:// and https:// sources are read by the worker itself.
    const source = isRemoteSource(input.source) ? input.source : path.resolve(input.source);
    const spec = parseJobSpec({ ...input, source });
    const sourceDigest = await sourceDigestOf(spec.source, spec.sourceDigest);
    const id = jobKey(sourceDigest, spec);
    const name = queueOf(spec);
    const queue = this.queue(name);
    const existing = await queue.getJob(id);
    const data: JobData = {
      spec,
      sourceDigest,
      ...(spec.kind === 'build' ? { planKey: planKey(sourceDigest, spec) } : {}),
    };
    // Written again for an existing job too (same value): WAIT covers this connection's writes, and a write after
    // the job's own orders it behind them in the one replication stream, so an enqueue retried after
    // MSB_REDIS_NOT_REPLICATED confirms the job that is already queued instead of trusting the primary's word.
    await this.link.connection.hset(KEYS.jobQueue, id, name);
    if (!existing) {
      await queue.add(spec.kind, data, {
        jobId: id,
        attempts: this.options.attempts ?? 3,
        backoff: { type: 'exponential', delay: this.options.backoffMs ?? 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      });
    }
    // the queue shares this connection, so WAIT covers the job's own writes
    await waitForReplicas(
      this.link.connection,
      this.options.waitReplicas ?? 0,
      this.options.waitTimeoutMs ?? 5000,
      `enqueue of job ${id}`,
    );
    const handle = new ConversionHandle(this, id, name, existing !== undefined);
    await this.queueEvents(name);
    this.handles.set(id, handle);
    return handle;
  }

  /** @internal */
  async waitFor(handle: ConversionHandle, timeoutMs?: number): Promise<JobResult> {
    const job = await this.queue(handle.queue).getJob(handle.id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${handle.id}`, { id: handle.id });
    const stop = new AbortController();
    // The time limit is this wait's own timer, cleared however the race ends. A timer cleared only on the finish
    // event (as BullMQ's waitUntilFinished did with its ttl, used here before finishEvent) stays armed when the poll
    // below wins, and a QueueEvents reconnect can miss that event: after a Redis Cluster restart every waiting
    // handle kept the process alive for its whole `timeoutMs` after the job had finished.
    let timer: NodeJS.Timeout | undefined;
    const timeLimit =
      timeoutMs === undefined
        ? new Promise<never>(() => undefined)
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no finish notification after ${timeoutMs} ms`)), timeoutMs);
          });
    try {
      return await Promise.race([
        this.finishEvent(handle, await this.queueEvents(handle.queue), stop.signal),
        this.pollFinished(handle, stop.signal),
        timeLimit,
      ]);
    } catch (err) {
      if (isMsbError(err, 'MSB_REDIS_UNREACHABLE')) throw err;
      // BullMQ rejects alike when the job failed and when the wait ran out: the job's state tells them apart.
      const state = timeoutMs === undefined ? 'failed' : await job.getState();
      if (state !== 'failed' && state !== 'completed') {
        throw new JobError(
          'MSB_JOB_WAIT_TIMEOUT',
          `job ${handle.id} is still ${state} after ${timeoutMs} ms; it goes on without this wait`,
          { id: handle.id, state },
          { cause: err },
        );
      }
      throw new JobError(
        'MSB_JOB_FAILED',
        `job ${handle.id} failed: ${(err as Error).message}`,
        { id: handle.id },
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      stop.abort();
    }
  }

  /**
   * The job's finish event, or its state if it finished before the listeners were on. BullMQ's
   * `Job.waitUntilFinished` does this too, but reads the state inside an async Promise executor (bullmq 6.7): when
   * Redis went away at that moment, its "Connection is closed." was an unhandled rejection (the CLI died with
   * MSB_INTERNAL, exit 70) and its promise never settled. Here every failure rejects this promise.
   */
  private finishEvent(handle: ConversionHandle, events: QueueEvents, signal: AbortSignal): Promise<JobResult> {
    const queue = this.queue(handle.queue);
    // Per-job events (`completed:<id>`) and the queue's 'closing' are emitted but not in BullMQ's listener types.
    const bus = events as unknown as EventEmitter;
    const closing = queue as unknown as EventEmitter;
    return new Promise<JobResult>((resolve, reject) => {
      const completed = `completed:${handle.id}`;
      const failed = `failed:${handle.id}`;
      const off = () => {
        bus.off(completed, onCompleted);
        bus.off(failed, onFailed);
        closing.off('closing', onClosing);
        signal.removeEventListener('abort', off);
      };
      const onCompleted = ({ returnvalue }: { returnvalue: unknown }) => {
        off();
        resolve(returnvalue as JobResult);
      };
      const onFailed = ({ failedReason }: { failedReason: string }) => {
        off();
        reject(new Error(failedReason));
      };
      const onClosing = () => {
        off();
        reject(new Error(`queue ${handle.queue} is closing`));
      };
      bus.on(completed, onCompleted);
      bus.on(failed, onFailed);
      closing.on('closing', onClosing);
      signal.addEventListener('abort', off);
      // Listening first, then the state: a finish between the two is seen by one of them, never by neither.
      events
        .waitUntilReady()
        .then(() => this.outcome(handle))
        .then((outcome) => {
          if (!outcome || signal.aborted) return;
          if (outcome.state === 'completed') onCompleted({ returnvalue: outcome.result });
          else onFailed({ failedReason: outcome.reason });
        })
        .catch((err: unknown) => {
          off();
          reject(err);
        });
    });
  }

  /**
   * Backstop for a finish event that never arrives: QueueEvents reads the events stream from where it was, but a
   * reconnect before its first event resumes at "now" and misses what happened while it was away (a Redis
   * restart, a failover). Every 5 s, the job's own state answers.
   */
  private async pollFinished(handle: ConversionHandle, signal: AbortSignal): Promise<JobResult> {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 5000, undefined).unref());
      if (signal.aborted) return new Promise<never>(() => undefined);
      // a command-mode client that gave up on Redis: say so rather than wait for ever
      if (this.link.state === 'closed') throw this.link.unreachable();
      if (!this.link.ready) continue;
      const outcome = await this.outcome(handle).catch(() => undefined);
      if (outcome?.state === 'completed') return outcome.result;
      if (outcome?.state === 'failed') throw new Error(outcome.reason);
    }
  }

  /**
   * A finished job's result or failure; undefined while it has not finished (or is gone). The state is read first:
   * a job read before its state, finishing in between, would say `completed` with the result it had before, none.
   */
  private async outcome(
    handle: ConversionHandle,
  ): Promise<{ state: 'completed'; result: JobResult } | { state: 'failed'; reason: string } | undefined> {
    const queue = this.queue(handle.queue);
    const state = await queue.getJobState(handle.id);
    if (state !== 'completed' && state !== 'failed') return undefined;
    const job = await queue.getJob(handle.id);
    if (!job) return undefined;
    return state === 'completed' ? { state, result: job.returnvalue } : { state, reason: job.failedReason };
  }

  private async jobById(id: string): Promise<Job<JobData, JobResult> | undefined> {
    const name = await this.link.connection.hget(KEYS.jobQueue, id);
    return name ? ((await this.queue(name).getJob(id)) ?? undefined) : undefined;
  }

  /** Ids of the jobs whose id starts with `prefix` (listings show 12 characters), sorted. */
  async idsStartingWith(prefix: string): Promise<string[]> {
    if (prefix === '') return [];
    // The id → queue hash holds every job msb enqueued; one HKEYS, as list() does.
    const ids = await this.link.connection.hkeys(KEYS.jobQueue);
    return ids.filter((id) => id.startsWith(prefix)).sort();
  }

  /** A job's state, progress, result or failure, and whether any live worker serves its queue. */
  async get(id: string): Promise<JobInfo | undefined> {
    let job = await this.jobById(id);
    if (!job) return undefined;
    const state = (await job.getState()) as JobState;
    // The job was read before its state: a job that finished in between has its result only in a fresh read.
    if ((state === 'completed' || state === 'failed') && !job.returnvalue && !job.failedReason) {
      job = (await this.queue(job.queueName).getJob(id)) ?? job;
    }
    const info: JobInfo = {
      id,
      queue: job.queueName,
      kind: job.name,
      ...(job.data.spec.kind !== 'inspect' ? { model: job.data.spec.output.model } : {}),
      state,
      progress: job.progress,
      attemptsMade: job.attemptsMade,
      createdAt: job.timestamp,
    };
    if (job.returnvalue) info.result = job.returnvalue;
    if (job.failedReason) info.failedReason = job.failedReason;
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      const workers = await this.workers();
      if (!workers.some((w) => w.queues.includes(job.queueName))) {
        const serving = [...new Set(workers.flatMap((w) => w.queues))];
        info.unserved = `no live worker serves ${job.queueName}${serving.length ? ` (live workers serve: ${serving.join(', ')})` : ' (no live workers)'}`;
      }
    }
    return info;
  }

  /** Every job msb enqueued, newest first. */
  async list(): Promise<JobInfo[]> {
    const ids = await this.link.connection.hkeys(KEYS.jobQueue);
    const infos = (await Promise.all(ids.map((id) => this.get(id)))).filter((i): i is JobInfo => i !== undefined);
    return infos.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Live workers, from the registry their heartbeats keep. */
  async workers(): Promise<WorkerInfo[]> {
    const keys = await scanKeys(this.link.connection, KEYS.workerPattern);
    // every registry key carries the {msb} tag: one slot, so MGET works on a cluster too
    const values = keys.length ? await this.link.connection.mget(keys) : [];
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerInfo);
  }

  /** Cancels a job: removed when it has not started, aborted (the build stops) when it runs. */
  async cancel(id: string): Promise<'removed' | 'stop-requested'> {
    const job = await this.jobById(id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`, { id });
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      throw new JobError('MSB_JOB_FINISHED', `job ${id} already ${state}`, { id, state });
    }
    if (state === 'active') {
      await this.link.connection.publish(KEYS.cancelChannel, id);
      return 'stop-requested';
    }
    await job.remove();
    await this.link.connection.hdel(KEYS.jobQueue, id);
    return 'removed';
  }

  /** Runs a failed job again. */
  async retry(id: string): Promise<void> {
    const job = await this.jobById(id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`, { id });
    if ((await job.getState()) !== 'failed')
      throw new JobError('MSB_JOB_NOT_FAILED', `job ${id} has not failed`, { id });
    await job.retry('failed');
  }

  /** A job's state alone: one Redis call, where {@link get} also reads the job and the worker registry. */
  async state(handle: Pick<ConversionHandle, 'id' | 'queue'>): Promise<JobState> {
    return (await this.queue(handle.queue).getJobState(handle.id)) as JobState;
  }

  /** Answers when Redis does (readiness checks). */
  async ping(): Promise<void> {
    await this.link.connection.ping();
  }

  /** The BullMQ queue object of `name`, shared with this client (for queue dashboards such as Bull Board). */
  bullQueue(name: string): Queue<JobData, JobResult> {
    return this.queue(name);
  }

  /** Log lines a job wrote (`job.log`), from `start`; `count` is how many it has in all. */
  async logs(id: string, start = 0, end = -1): Promise<{ logs: string[]; count: number }> {
    const name = await this.link.connection.hget(KEYS.jobQueue, id);
    if (!name) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`, { id });
    return this.queue(name).getJobLogs(id, start, end);
  }

  /**
   * Calls `fn` whenever BullMQ reports an event of job `id` (progress, active, completed, failed, removed...), for
   * callers that follow a job without holding its handle (the HTTP API's event stream). Returns the unsubscribe.
   */
  async onJobEvent(queue: string, id: string, fn: (event: string) => void): Promise<() => void> {
    const events = await this.queueEvents(queue);
    const names = ['progress', 'active', 'completed', 'failed', 'removed', 'waiting', 'delayed'] as const;
    const listeners = names.map((event) => {
      const l = ({ jobId }: { jobId: string }) => {
        if (jobId === id) fn(event);
      };
      events.on(event, l);
      return [event, l] as const;
    });
    return () => {
      for (const [event, l] of listeners) events.off(event, l);
    };
  }

  /**
   * Every queue msb knows of (the import queue, the queues of enqueued jobs, the queues live workers serve) with
   * its job counts by state, the age of its oldest waiting job, and whether a live worker serves it.
   */
  async queueStats(): Promise<QueueStats[]> {
    const workers = await this.workers();
    const names = new Set<string>([IMPORT_QUEUE, ...(await this.link.connection.hvals(KEYS.jobQueue))]);
    for (const w of workers) for (const q of w.queues) names.add(q);
    const now = Date.now();
    return Promise.all(
      [...names].sort().map(async (name) => {
        const q = this.queue(name);
        const counts = await q.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
        // asc: oldest first (msb enqueues without priorities, so every waiting job is in the wait list).
        const [oldest] = await q.getJobs(['waiting'], 0, 0, true);
        return {
          name,
          counts,
          oldestWaitingSeconds: oldest ? Math.max(0, (now - oldest.timestamp) / 1000) : null,
          served: workers.some((w) => w.queues.includes(name)),
        };
      }),
    );
  }

  /**
   * Closes queues and connections. Bounded to 2 s when Redis does not answer: then the link drops every copy of
   * its connection that the queues still hold.
   */
  async close(): Promise<void> {
    const all = [...this.events.values(), ...this.queues.values()];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(all.map((x) => x.close().catch(() => undefined))),
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.link.ready ? 2000 : 0);
      }),
    ]);
    clearTimeout(timer);
    await this.link.close();
  }
}
