import { EventEmitter } from 'node:events';
import path from 'node:path';
import { type Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { JobError } from './errors.js';
import { isRemoteSource, sourceDigestOf } from './sources.js';
import { type JobSpecInput, jobKey, parseJobSpec, planKey, queueOf } from './spec.js';
import { type JobData, type JobResult, KEYS, type WorkerInfo } from './worker.js';

export interface ConversionClientOptions {
  /** Redis URL, e.g. redis://127.0.0.1:6379. */
  redis: string;
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

export interface JobInfo {
  id: string;
  queue: string;
  kind: string;
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

  cancel(): Promise<void> {
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
  private readonly redis: Redis;
  private readonly queues = new Map<string, Queue<JobData, JobResult>>();
  private readonly events = new Map<string, QueueEvents>();
  /** Handles waiting for progress, by job id. */
  private readonly handles = new Map<string, ConversionHandle>();

  constructor(private readonly options: ConversionClientOptions) {
    this.redis = new Redis(options.redis, { maxRetriesPerRequest: 3, lazyConnect: false });
  }

  private queue(name: string): Queue<JobData, JobResult> {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue<JobData, JobResult>(name, { connection: { url: this.options.redis } });
      // Connection errors are retried by ioredis; calls that cannot complete reject on their own.
      q.on('error', () => {});
      q.setMaxListeners(0);
      this.queues.set(name, q);
    }
    return q;
  }

  private async queueEvents(name: string): Promise<QueueEvents> {
    let e = this.events.get(name);
    if (!e) {
      e = new QueueEvents(name, { connection: { url: this.options.redis } });
      // One listener per queue dispatches to the handles; waitUntilFinished adds its own per waiting call.
      e.setMaxListeners(0);
      e.on('error', () => {});
      e.on('progress', ({ jobId, data }) => this.handles.get(jobId)?.emit('progress', data));
      const forget = ({ jobId }: { jobId: string }) => this.handles.delete(jobId);
      e.on('completed', forget);
      e.on('failed', forget);
      this.events.set(name, e);
      await e.waitUntilReady();
    }
    return e;
  }

  /** Validates the spec (unknown fields refused), hashes the source, and enqueues unless an identical job exists. */
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
    if (!existing) {
      await this.redis.hset(KEYS.jobQueue, id, name);
      await queue.add(spec.kind, data, {
        jobId: id,
        attempts: this.options.attempts ?? 3,
        backoff: { type: 'exponential', delay: this.options.backoffMs ?? 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      });
    }
    const handle = new ConversionHandle(this, id, name, existing !== undefined);
    await this.queueEvents(name);
    this.handles.set(id, handle);
    return handle;
  }

  /** @internal */
  async waitFor(handle: ConversionHandle, timeoutMs?: number): Promise<JobResult> {
    const job = await this.queue(handle.queue).getJob(handle.id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${handle.id}`, { id: handle.id });
    try {
      return await job.waitUntilFinished(await this.queueEvents(handle.queue), timeoutMs);
    } catch (err) {
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
    }
  }

  private async jobById(id: string): Promise<Job<JobData, JobResult> | undefined> {
    const name = await this.redis.hget(KEYS.jobQueue, id);
    return name ? ((await this.queue(name).getJob(id)) ?? undefined) : undefined;
  }

  /** A job's state, progress, result or failure, and whether any live worker serves its queue. */
  async get(id: string): Promise<JobInfo | undefined> {
    const job = await this.jobById(id);
    if (!job) return undefined;
    const state = (await job.getState()) as JobState;
    const info: JobInfo = {
      id,
      queue: job.queueName,
      kind: job.name,
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
    const ids = await this.redis.hkeys(KEYS.jobQueue);
    const infos = (await Promise.all(ids.map((id) => this.get(id)))).filter((i): i is JobInfo => i !== undefined);
    return infos.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Live workers, from the registry their heartbeats keep. */
  async workers(): Promise<WorkerInfo[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', KEYS.workerPattern, 'COUNT', 100);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const values = keys.length ? await this.redis.mget(keys) : [];
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerInfo);
  }

  /** Cancels a job: removed when it has not started, aborted (the build stops) when it runs. */
  async cancel(id: string): Promise<void> {
    const job = await this.jobById(id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`, { id });
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      throw new JobError('MSB_JOB_FINISHED', `job ${id} already ${state}`, { id, state });
    }
    if (state === 'active') {
      await this.redis.publish(KEYS.cancelChannel, id);
      return;
    }
    await job.remove();
    await this.redis.hdel(KEYS.jobQueue, id);
  }

  /** Runs a failed job again. */
  async retry(id: string): Promise<void> {
    const job = await this.jobById(id);
    if (!job) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`, { id });
    if ((await job.getState()) !== 'failed')
      throw new JobError('MSB_JOB_NOT_FAILED', `job ${id} has not failed`, { id });
    await job.retry('failed');
  }

  async close(): Promise<void> {
    await Promise.all([...this.events.values()].map((e) => e.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.redis.disconnect();
  }
}
