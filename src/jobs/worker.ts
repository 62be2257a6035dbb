import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { isMsbError } from '../errors.js';
import { parseTensorOption, planSidecarPath, writePlanSidecar } from '../inspect/index.js';
import type { BuildConversion } from '../onnx/index.js';
import { publish } from '../publish/index.js';
import { openRedis, type RedisLink } from '../redis/index.js';
import { checkBuildTarget, parseComputeCapabilities, resolveRelease, type TritonRelease } from '../release/index.js';
import { type TritonLoadReport, TritonRepositoryClient, type TritonRepositoryOptions } from '../triton/index.js';
import { type BuilderIdentity, type EngineBuilder, tensorrtEngineBuilder } from './builder.js';
import { prepareBuildSource } from './convert-step.js';
import { PlanCache } from './publish.js';
import { SourceCache, type SourceCacheOptions } from './sources.js';
import { type BuildJobSpec, IMPORT_QUEUE, type JobSpec, parseJobSpec, QUEUE_PREFIX, targetQueue } from './spec.js';

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
  /**
   * With the worker's `tritonLoad` option: whether Triton loaded the published model. A failed load is recorded
   * here, not as a job failure: the version is published either way.
   */
  tritonLoad?: TritonLoadReport;
}

export interface ConversionWorkerOptions {
  /** Redis URL: `redis://`, `rediss://`, `redis+sentinel://…/master`, `redis+cluster://…` (see src/redis). */
  redis: string;
  /** Where the worker's state lines go: Redis connection (lost, reconnecting, back), Triton loads. Default: stderr. */
  log?: (line: string) => void;
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
  /**
   * After each publish, tell the Triton at `url` to load the model through its repository API
   * (`POST /v2/repository/models/NAME/load`), for a Triton run with `--model-control-mode=explicit`; retries,
   * backoff and the per-try timeout are the client's (src/triton). The outcome goes into the job's result
   * (`tritonLoad`) and the log; a failed load does not fail the job, whose version is published. close() stops its
   * retries, a job's cancel or timeout aborts it. Default: off (a polling Triton finds new versions by itself).
   */
  tritonLoad?: TritonRepositoryOptions;
  /**
   * The Triton release ("25.01") the published versions must load in (issue 24): every publish applies the release
   * checks (a plan of another TensorRT, an ONNX opset above the release's ONNX Runtime: the job fails, not retried),
   * and a build job whose TensorRT target is not the release's fails before building (`MSB_RELEASE_TARGET_MISMATCH`).
   * Without it the store's recorded default applies to publishes. An unknown name refuses the start.
   */
  triton?: string;
  /** The fleet's compute capabilities ("8.6"): each must have a plan it can load in every published version. */
  gpus?: readonly string[];
}

/**
 * Redis keys msb keeps beside BullMQ's, under the queues' hash tag `{msb}`: on a Redis Cluster they share the
 * queues' slot (so one node holds all of msb's job state), and the registry can be listed from that node.
 */
export const KEYS = {
  worker: (id: string) => `{msb}:worker:${id}`,
  workerPattern: '{msb}:worker:*',
  cancelChannel: '{msb}:cancel',
  jobQueue: '{msb}:job-queue',
  timingCache: (queue: string) => `{msb}:timing-cache:${queue}`,
};

/**
 * BullMQ's Worker, plus a way to stop its timers when its close() is abandoned. With Redis unreachable, BullMQ's
 * close() waits for a connection `end` that never comes and never reaches the steps that stop its lock-renewal
 * timer (which re-arms itself for ever) and its stalled-job check (taskforcesh/bullmq#4656, open as of 6.7.0):
 * those timers would keep the process alive after msb has dropped every connection.
 */
class QueueWorker extends Worker<JobData, JobResult> {
  abandon(): void {
    // pause(true) ends the stalled-check loop and its timer without waiting for anything
    this.pause(true).catch(() => undefined);
    this.lockManager.close().catch(() => undefined);
  }
}

/** After the grace period, how long close() still waits for BullMQ before it drops the connections. */
const CLOSE_MARGIN_MS = 3000;

/** Registry entry of a live worker. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  identity: BuilderIdentity;
  startedAt: string;
  /** Time of the beat that wrote this entry (entries expire after three missed beats). */
  heartbeatAt: string;
  /** Ids of the jobs this worker runs now. */
  jobs: string[];
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
  private readonly workers: QueueWorker[] = [];
  /** The worker's Redis connection: its state for `/healthz`, and the connection queue gauges share. */
  readonly link: RedisLink;
  private readonly subscriber: RedisLink['connection'];
  private readonly builder: EngineBuilder;
  private readonly planCache: PlanCache;
  private readonly sources: SourceCache;
  private heartbeat: NodeJS.Timeout | undefined;
  private gpuQueue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private readonly startedAt = new Date().toISOString();
  private readonly running = new Set<string>();
  private beats: Promise<void> = Promise.resolve();
  private left = false;
  /** Triton's repository API, when the worker loads what it publishes (`tritonLoad`). */
  private readonly triton: TritonRepositoryClient | undefined;
  /** The release publishes and build targets are checked against (`options.triton`). */
  private readonly release: TritonRelease | undefined;
  /** The Triton this worker loads published models into (password masked), when `tritonLoad` is set. */
  get tritonUrl(): string | undefined {
    return this.triton?.url;
  }
  /**
   * Aborted when close() begins: a Triton load stops retrying (a backoff ends at once), so it does not hold the
   * shutdown; a try in flight, or the one try of a job that finishes during the grace period, still runs.
   */
  private readonly stopping = new AbortController();

  private constructor(private readonly options: ConversionWorkerOptions) {
    // first: a Triton URL, a release or GPUs msb cannot use are refused before anything is opened
    this.triton = options.tritonLoad ? new TritonRepositoryClient(options.tritonLoad) : undefined;
    this.release = options.triton === undefined ? undefined : resolveRelease(options.triton);
    if (options.gpus?.length) parseComputeCapabilities(options.gpus.join(','));
    this.builder = options.builder ?? tensorrtEngineBuilder(options.gpu ?? 0);
    this.identity = this.builder.identity();
    this.queues = servedQueues(this.identity);
    this.link = openRedis(options.redis, { name: 'msb-worker', ...(options.log ? { log: options.log } : {}) });
    // pub/sub needs a connection of its own; its errors are the link's (one set of state lines)
    this.subscriber = this.link.duplicate(); // closed with the link
    this.planCache = new PlanCache(options.store);
    this.sources = new SourceCache(options.sourceCache);
  }

  static async start(options: ConversionWorkerOptions): Promise<ConversionWorker> {
    const w = new ConversionWorker(options);
    try {
      await w.link.connected(10_000);
    } catch (err) {
      await w.link.close();
      throw err;
    }
    await w.subscriber.subscribe(KEYS.cancelChannel);
    w.subscriber.on('message', (_channel, jobId: string) => {
      for (const worker of w.workers) worker.cancelJob(jobId, 'cancelled');
    });
    for (const queue of w.queues) {
      const worker = new QueueWorker(queue, (job, _token, signal) => w.process(job, signal), {
        // BullMQ duplicates the link's connection (same topology and options) for the worker's own use
        connection: w.link.connection,
        prefix: QUEUE_PREFIX,
        concurrency: 1,
        lockDuration: options.lockMs ?? 30_000,
        stalledInterval: Math.min(options.lockMs ?? 30_000, 30_000),
        autorun: false,
      });
      worker.on('completed', (job, result) => w.emit({ type: 'completed', job: job.id as string, queue, result }));
      worker.on('failed', (job, err) => w.emit({ type: 'failed', job: job?.id ?? '', queue, error: err.message }));
      worker.on('error', (err) => w.link.report(err));
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

  /** Beats run one after another, and none after the worker left the registry (it would re-enter it). */
  private beat(): Promise<void> {
    const next = this.beats.then(() => (this.left ? undefined : this.writeBeat()));
    this.beats = next.catch(() => {});
    return next;
  }

  private async writeBeat(): Promise<void> {
    const info: WorkerInfo = {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      queues: this.queues,
      identity: this.identity,
      startedAt: this.startedAt,
      heartbeatAt: new Date().toISOString(),
      jobs: [...this.running],
    };
    await this.link.connection.set(
      KEYS.worker(this.id),
      JSON.stringify(info),
      'PX',
      3 * (this.options.heartbeatMs ?? 5000),
    );
  }

  /**
   * Stops taking jobs, lets the current one finish for up to `graceMs`, then hands it back (it fails this attempt
   * and is retried by another worker), and leaves the registry. Always settles within `graceMs` + 3 s, whatever
   * Redis does: when BullMQ cannot finish (Redis unreachable), the connections are dropped; the job's lock then
   * expires and another worker takes it (at least once: publishing is idempotent per job). Nothing of the worker's
   * keeps the process alive after it settled.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping.abort('worker shutting down');
      clearInterval(this.heartbeat);
      const grace = this.options.graceMs ?? 30_000;
      const closed = Promise.all(this.workers.map((w) => w.close())).then(() => true);
      const timer = setTimeout(() => {
        for (const w of this.workers) w.cancelAllJobs('shutdown');
      }, grace);
      let deadline: NodeJS.Timeout | undefined;
      let idle: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        closed.catch(() => true),
        new Promise<false>((resolve) => {
          deadline = setTimeout(() => resolve(false), grace + CLOSE_MARGIN_MS);
          // no job left to hand back and Redis unreachable: BullMQ would only wait to QUIT its connections
          idle = setInterval(() => this.running.size === 0 && !this.link.ready && resolve(false), 100);
        }),
      ]);
      clearTimeout(timer);
      clearTimeout(deadline);
      clearInterval(idle);
      if (!finished) {
        if (this.link.ready)
          this.link.report(new Error(`shutdown: BullMQ did not finish within ${grace + CLOSE_MARGIN_MS} ms`));
        for (const w of this.workers) w.abandon();
      }
      this.left = true;
      // gone after 3 missed beats anyway; not worth waiting for an unreachable Redis
      if (this.link.ready) {
        await this.beats;
        await this.link.connection.del(KEYS.worker(this.id)).catch(() => {});
      }
      // drops whatever BullMQ left open (its copies of the connection) when it could not finish
      await this.link.close();
    })();
    return this.closing;
  }

  private async process(job: Job<JobData, JobResult>, signal?: AbortSignal): Promise<JobResult> {
    const id = job.id as string;
    this.running.add(id);
    // The registry shows the current job at once, not only from the next beat on.
    void this.beat().catch(() => {});
    try {
      return await this.run(job, signal);
    } finally {
      this.running.delete(id);
      void this.beat().catch(() => {});
    }
  }

  private async run(job: Job<JobData, JobResult>, signal?: AbortSignal): Promise<JobResult> {
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
          return await this.finish(job, await this.importModel(job, spec), abort);
        case 'build':
          // the Triton load waits outside the GPU queue: it does not hold up the next build of this worker
          return await this.finish(job, await this.onGpu(() => this.build(job, spec, abort)), abort);
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
   * Publishes `source` as the job's output through the one publish flow (`publish`: inspect, unwrap an Ultralytics
   * engine, check against the stored config, write), the config generated with the output's options for a new
   * model, the version idempotent per job id (a retried job finds its version).
   */
  private async publish(
    job: Job<JobData, JobResult>,
    output: Extract<JobSpec, { kind: 'import' }>['output'],
    source: string,
    extra: { inputs?: string[]; outputs?: string[]; transfer?: 'link' } = {},
  ): Promise<number> {
    const result = await publish({
      store: this.options.store,
      ...(this.options.redis ? { redis: this.options.redis } : {}),
      model: output.model,
      source,
      mode: 'create-or-add',
      publishKey: job.id as string,
      ...(extra.inputs ? { inputs: extra.inputs.map(parseTensorOption) } : {}),
      ...(extra.outputs ? { outputs: extra.outputs.map(parseTensorOption) } : {}),
      ...(extra.transfer ? { transfer: extra.transfer } : {}),
      ...(output.maxBatchSize !== undefined ? { maxBatchSize: output.maxBatchSize } : {}),
      ...(output.concurrency !== undefined ? { concurrency: output.concurrency } : {}),
      ...(output.version !== undefined ? { version: output.version } : {}),
      ...(this.options.triton !== undefined ? { triton: this.options.triton } : {}),
      ...(this.options.gpus?.length ? { gpus: this.options.gpus } : {}),
    });
    for (const p of result.problems) void job.log(`${p.severity}: ${p.path}: ${p.rule}: ${p.message}`).catch(() => {});
    return result.version;
  }

  private async importModel(
    job: Job<JobData, JobResult>,
    spec: Extract<JobSpec, { kind: 'import' }>,
  ): Promise<JobResult> {
    await job.updateProgress({ phase: 'inspect', percent: 10 });
    const version = await this.publish(job, spec.output, spec.source, {
      ...(spec.inputs ? { inputs: spec.inputs } : {}),
      ...(spec.outputs ? { outputs: spec.outputs } : {}),
    });
    return { kind: 'import', model: spec.output.model, version };
  }

  private async build(job: Job<JobData, JobResult>, spec: BuildJobSpec, signal: AbortSignal): Promise<JobResult> {
    // A plan for another TensorRT than the release's would be refused at publish: fail before spending the GPU.
    if (this.release) {
      for (const w of checkBuildTarget(this.release, spec.target.tensorrt)) void job.log(`warning: ${w.message}`);
    }
    const key = job.data.planKey as string;
    let cached = await this.planCache.get(key);
    const reusedPlan = cached !== undefined;
    let buildSeconds: number | undefined;
    // TensorRT 11 has no precision flags: fp16/bf16 means converting the model first (cached; see convert-step.ts).
    const prepared = await prepareBuildSource(spec, job.data.sourceDigest, this.planCache.dir);
    if (!cached) {
      const queue = targetQueue(spec.target);
      const timingCache = await this.link.connection.getBuffer(KEYS.timingCache(queue));
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
      if (result.timingCache) await this.link.connection.set(KEYS.timingCache(queue), Buffer.from(result.timingCache));
      cached = await this.planCache.put(key, result.plan, {
        msb: 1,
        signature: result.signature,
        tensorrt: this.identity.tensorrtVersion ?? spec.target.tensorrt,
        computeCapability: spec.target.gpu === 'ampere+' ? (this.identity.computeCapability ?? '8.0') : spec.target.gpu,
        buildOptions: { ...spec.build, target: spec.target },
      });
    }
    // The plan's record (`<key>.plan.msb.json`) is published with it by the publish flow.
    const version = await this.publish(job, spec.output, cached.plan, { transfer: 'link' });
    return {
      kind: 'build',
      model: spec.output.model,
      version,
      reusedPlan,
      ...(buildSeconds !== undefined ? { buildSeconds } : {}),
      ...(prepared.conversion ? { conversion: prepared.conversion } : {}),
    };
  }

  /**
   * After a publish: with `tritonLoad`, asks Triton to load the model just published, then reports the job done.
   * Never throws for the load: the store is the source of truth and the version is published, so a load that fails
   * (Triton down, the model refused) is reported in the job's result and log, and the job completes; the version is
   * neither republished nor rolled back. close() stops the retries (one try still runs); the job's signal (cancel,
   * timeout, the end of the grace period) aborts the wait. Triton itself goes on with a load it has started.
   */
  private async finish(job: Job<JobData, JobResult>, result: JobResult, signal: AbortSignal): Promise<JobResult> {
    const { model, version } = result;
    if (this.triton && model !== undefined && version !== undefined) {
      await job.updateProgress({ phase: 'triton load', percent: 95 });
      result = { ...result, tritonLoad: await this.loadIntoTriton(this.triton, job, model, version, signal) };
    }
    await job.updateProgress({ phase: 'done', percent: 100 });
    return result;
  }

  private async loadIntoTriton(
    triton: TritonRepositoryClient,
    job: Job<JobData, JobResult>,
    model: string,
    version: number,
    signal: AbortSignal,
  ): Promise<TritonLoadReport> {
    const report = await triton.tryLoad(model, { signal, stopRetrying: this.stopping.signal });
    const line = report.loaded
      ? `Triton at ${report.url} loaded ${model} (version ${version} published; ${report.attempts} ${report.attempts === 1 ? 'try' : 'tries'})`
      : `Triton at ${report.url} did not load ${model} (version ${version} is published): ${report.code}: ${report.error}`;
    void job.log(line).catch(() => {});
    this.link.log(`job ${String(job.id).slice(0, 12)}: ${line}`);
    return report;
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
