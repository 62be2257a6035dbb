import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { generateModelConfig } from '../config/index.js';
import { isMsbError } from '../errors.js';
import {
  inspectModel,
  type ModelSignature,
  parseTensorOption,
  planSidecarPath,
  writePlanSidecar,
} from '../inspect/index.js';
import type { BuildConversion } from '../onnx/index.js';
import { type BuilderIdentity, type EngineBuilder, tensorrtEngineBuilder } from './builder.js';
import { prepareBuildSource } from './convert-step.js';
import { PlanCache, type PublishRequest, publishToStore } from './publish.js';
import { SourceCache, type SourceCacheOptions } from './sources.js';
import { type BuildJobSpec, IMPORT_QUEUE, type JobSpec, parseJobSpec, targetQueue } from './spec.js';

/** What a job stores in Redis: the validated spec and what the client computed from the source. */
export interface JobData {
  spec: JobSpec;
  /** SHA-256 of the source when enqueued; a source changed since is refused. */
  sourceDigest: string;
  planKey?: string;
}

export interface JobResult {
  kind: JobSpec['kind'];
  model?: string;
  version?: number;
  /** Build jobs: the plan came from the plan cache (built before for the same bytes, options and target). */
  reusedPlan?: boolean;
  buildSeconds?: number;
  /** TensorRT 11 builds with fp16/bf16: the conversion to a typed model, with its compare report. */
  conversion?: BuildConversion;
  /** Inspect jobs: where the signature record was written. */
  record?: string;
}

export interface ConversionWorkerOptions {
  /** Redis URL, e.g. redis://127.0.0.1:6379. */
  redis: string;
  /** Root of the model store to publish to. */
  store: string;
  /** GPU (CUDA device index) this worker builds on. Default: 0. */
  gpu?: number;
  /** The engine builder. Default: TensorRT through the addon on `gpu`. */
  builder?: EngineBuilder;
  /** On close, how long the current job may go on before it is handed back to the queue. Default: 30 000 ms. */
  graceMs?: number;
  /** Worker registry heartbeat. Default: 5 000 ms (entries expire after three missed beats). */
  heartbeatMs?: number;
  /** BullMQ lock duration: a job whose worker stops renewing it for this long is taken by another. Default: 30 000. */
  lockMs?: number;
  /** Where remote job sources are downloaded (by content digest, LRU-evicted). */
  sourceCache?: SourceCacheOptions;
}

/** Redis keys msb keeps beside BullMQ's. */
export const KEYS = {
  worker: (id: string) => `msb:worker:${id}`,
  workerPattern: 'msb:worker:*',
  cancelChannel: 'msb:cancel',
  jobQueue: 'msb:job-queue',
  timingCache: (queue: string) => `msb:timing-cache:${queue}`,
};

/** Registry entry of a live worker. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  identity: BuilderIdentity;
  startedAt: string;
}

/**
 * A conversion worker: consumes the import queue, and, when its builder has TensorRT and a GPU, the queues of the
 * targets it can serve (its TensorRT major.minor on its GPU's compute capability, and `ampere+` on ≥ 8.0 GPUs).
 * GPU work runs one job at a time.
 */
export class ConversionWorker {
  readonly id = randomUUID();
  readonly queues: string[];
  readonly identity: BuilderIdentity;
  private readonly workers: Worker[] = [];
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly builder: EngineBuilder;
  private readonly planCache: PlanCache;
  private readonly sources: SourceCache;
  private heartbeat: NodeJS.Timeout | undefined;
  private gpuQueue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private readonly listeners = new Set<(event: WorkerEvent) => void>();

  private constructor(private readonly options: ConversionWorkerOptions) {
    this.builder = options.builder ?? tensorrtEngineBuilder(options.gpu ?? 0);
    this.identity = this.builder.identity();
    this.queues = servedQueues(this.identity);
    this.redis = new Redis(options.redis, { maxRetriesPerRequest: null, lazyConnect: true });
    this.subscriber = new Redis(options.redis, { maxRetriesPerRequest: null, lazyConnect: true });
    this.planCache = new PlanCache(options.store);
    this.sources = new SourceCache(options.sourceCache);
  }

  static async start(options: ConversionWorkerOptions): Promise<ConversionWorker> {
    const w = new ConversionWorker(options);
    await w.redis.connect();
    await w.subscriber.connect();
    await w.subscriber.subscribe(KEYS.cancelChannel);
    w.subscriber.on('message', (_channel, jobId: string) => {
      for (const worker of w.workers) worker.cancelJob(jobId, 'cancelled');
    });
    for (const queue of w.queues) {
      const worker = new Worker<JobData, JobResult>(queue, (job, _token, signal) => w.process(job, signal), {
        connection: { url: options.redis, maxRetriesPerRequest: null },
        concurrency: 1,
        lockDuration: options.lockMs ?? 30_000,
        stalledInterval: Math.min(options.lockMs ?? 30_000, 30_000),
        autorun: false,
      });
      worker.on('completed', (job, result) => w.emit({ type: 'completed', job: job.id as string, queue, result }));
      worker.on('failed', (job, err) => w.emit({ type: 'failed', job: job?.id ?? '', queue, error: err.message }));
      worker.on('error', () => {});
      w.workers.push(worker);
      void worker.run();
    }
    await w.beat();
    w.heartbeat = setInterval(() => void w.beat().catch(() => {}), options.heartbeatMs ?? 5000);
    w.heartbeat.unref();
    return w;
  }

  /** Worker events (completed/failed), for the CLI and the demo. */
  on(listener: (event: WorkerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: WorkerEvent): void {
    for (const l of this.listeners) l(event);
  }

  private async beat(): Promise<void> {
    const info: WorkerInfo = {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      queues: this.queues,
      identity: this.identity,
      startedAt: new Date().toISOString(),
    };
    await this.redis.set(KEYS.worker(this.id), JSON.stringify(info), 'PX', 3 * (this.options.heartbeatMs ?? 5000));
  }

  /**
   * Stops taking jobs, lets the current one finish for up to `graceMs`, then hands it back (it fails this attempt
   * and is retried by another worker), and leaves the registry.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      const grace = this.options.graceMs ?? 30_000;
      const closed = Promise.all(this.workers.map((w) => w.close()));
      const timer = setTimeout(() => {
        for (const w of this.workers) w.cancelAllJobs('shutdown');
      }, grace);
      await closed;
      clearTimeout(timer);
      await this.redis.del(KEYS.worker(this.id)).catch(() => {});
      this.redis.disconnect();
      this.subscriber.disconnect();
    })();
    return this.closing;
  }

  private async process(job: Job<JobData, JobResult>, signal?: AbortSignal): Promise<JobResult> {
    let spec: JobSpec;
    try {
      spec = parseJobSpec(job.data.spec);
    } catch (err) {
      throw new UnrecoverableError((err as Error).message);
    }
    const signals = [signal ?? new AbortController().signal];
    if (spec.timeoutSeconds) signals.push(AbortSignal.timeout(spec.timeoutSeconds * 1000));
    const abort = AbortSignal.any(signals);
    try {
      // Remote sources (s3://, gs://, https://) are downloaded into the digest-keyed cache; every source is checked
      // against the digest the job was enqueued with.
      spec.source = await this.sources.localize(spec.source, job.data.sourceDigest);
      switch (spec.kind) {
        case 'import':
          return await this.importModel(job, spec);
        case 'build':
          return await this.onGpu(() => this.build(job, spec, abort));
        case 'inspect':
          return await this.onGpu(() => this.inspect(spec.source));
      }
    } catch (err) {
      if (abort.aborted) {
        const reason =
          abort.reason instanceof DOMException && abort.reason.name === 'TimeoutError'
            ? `timed out after ${spec.timeoutSeconds} s`
            : String(abort.reason ?? 'cancelled');
        // A shutdown hands the job back (a retryable failure); a cancel or a timeout ends it.
        if (reason === 'shutdown') throw new Error('worker shut down during the job; handed back to the queue');
        throw new UnrecoverableError(reason === 'cancelled' ? 'cancelled' : reason);
      }
      // Each typed error says whether retrying can help (src/*/errors.ts); anything else (an I/O error) is retried.
      if (isMsbError(err) && !err.retryable) throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
  }

  /** GPU work of this worker runs one job at a time, whichever queue it came from. */
  private onGpu<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gpuQueue.then(fn, fn);
    this.gpuQueue = run.catch(() => {});
    return run;
  }

  /**
   * Publishes `source` as the job's output: the config generated from `signature` with the output's options, the
   * version idempotent per job id (a retried job finds its version).
   */
  private publish(
    job: Job<JobData, JobResult>,
    signature: ModelSignature,
    output: Extract<JobSpec, { kind: 'import' }>['output'],
    source: string,
    extra: Pick<PublishRequest, 'transfer' | 'files'> = {},
  ): Promise<number> {
    const config = generateModelConfig(signature, {
      name: output.model,
      ...(output.maxBatchSize !== undefined ? { maxBatchSize: output.maxBatchSize } : {}),
      ...(output.concurrency !== undefined ? { concurrency: output.concurrency } : {}),
    });
    return publishToStore({
      store: this.options.store,
      redis: this.options.redis,
      model: output.model,
      config,
      source,
      publishKey: job.id as string,
      ...(output.version !== undefined ? { version: output.version } : {}),
      ...extra,
    });
  }

  private async importModel(
    job: Job<JobData, JobResult>,
    spec: Extract<JobSpec, { kind: 'import' }>,
  ): Promise<JobResult> {
    await job.updateProgress({ phase: 'inspect', percent: 10 });
    const signature = await inspectModel(spec.source, {
      ...(spec.inputs ? { inputs: spec.inputs.map(parseTensorOption) } : {}),
      ...(spec.outputs ? { outputs: spec.outputs.map(parseTensorOption) } : {}),
    });
    await job.updateProgress({ phase: 'publish', percent: 60 });
    const version = await this.publish(job, signature, spec.output, spec.source);
    await job.updateProgress({ phase: 'done', percent: 100 });
    return { kind: 'import', model: spec.output.model, version };
  }

  private async build(job: Job<JobData, JobResult>, spec: BuildJobSpec, signal: AbortSignal): Promise<JobResult> {
    const key = job.data.planKey as string;
    let cached = await this.planCache.get(key);
    const reusedPlan = cached !== undefined;
    let buildSeconds: number | undefined;
    // TensorRT 11 has no precision flags: fp16/bf16 means converting the model first (cached; see convert-step.ts).
    const prepared = await prepareBuildSource(spec, job.data.sourceDigest, this.planCache.dir);
    if (!cached) {
      const queue = targetQueue(spec.target);
      const timingCache = await this.redis.getBuffer(KEYS.timingCache(queue));
      let lastProgress = 0;
      const result = await this.builder.build({
        onnx: prepared.onnx,
        options: prepared.options,
        hardwareCompatible: spec.target.gpu === 'ampere+',
        ...(timingCache ? { timingCache: new Uint8Array(timingCache) } : {}),
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastProgress < 250 && p.percent < 100) return;
          lastProgress = now;
          void job.updateProgress({ phase: p.phase, percent: Math.round(p.percent) }).catch(() => {});
        },
        onLog: (line) => void job.log(line).catch(() => {}),
        signal,
      });
      buildSeconds = result.buildSeconds;
      // TensorRT's serialized timing cache holds what it loaded plus what this build measured.
      if (result.timingCache) await this.redis.set(KEYS.timingCache(queue), Buffer.from(result.timingCache));
      cached = await this.planCache.put(key, result.plan, {
        msb: 1,
        signature: result.signature,
        tensorrt: this.identity.tensorrtVersion ?? spec.target.tensorrt,
        computeCapability: spec.target.gpu === 'ampere+' ? (this.identity.computeCapability ?? '8.0') : spec.target.gpu,
        buildOptions: { ...spec.build, target: spec.target },
      });
    }
    const version = await this.publish(job, cached.record.signature, spec.output, cached.plan, {
      transfer: 'link',
      files: { [path.basename(planSidecarPath('model.plan'))]: planSidecarPath(cached.plan) },
    });
    await job.updateProgress({ phase: 'done', percent: 100 });
    return {
      kind: 'build',
      model: spec.output.model,
      version,
      reusedPlan,
      ...(buildSeconds !== undefined ? { buildSeconds } : {}),
      ...(prepared.conversion ? { conversion: prepared.conversion } : {}),
    };
  }

  private async inspect(plan: string): Promise<JobResult> {
    const signature = await this.builder.inspect(new Uint8Array(await readFile(plan)));
    await writePlanSidecar(plan, {
      msb: 1,
      signature,
      tensorrt: this.identity.tensorrtVersion ?? '',
      computeCapability: this.identity.computeCapability ?? '',
    });
    return { kind: 'inspect', record: planSidecarPath(plan) };
  }
}

export type WorkerEvent =
  | { type: 'completed'; job: string; queue: string; result: JobResult }
  | { type: 'failed'; job: string; queue: string; error: string };

/** The queues a worker with this builder can serve. */
export function servedQueues(identity: BuilderIdentity): string[] {
  const queues = [IMPORT_QUEUE];
  if (identity.tensorrt && identity.computeCapability) {
    queues.push(targetQueue({ tensorrt: identity.tensorrt, gpu: identity.computeCapability }));
    if (Number(identity.computeCapability) >= 8)
      queues.push(targetQueue({ tensorrt: identity.tensorrt, gpu: 'ampere+' }));
  }
  return queues;
}
