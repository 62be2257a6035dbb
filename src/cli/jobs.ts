import { type Command, Option } from 'commander';
import { JobError } from '../jobs/errors.js';
import type { ConversionClient, JobInfo, JobSpecInput } from '../jobs/index.js';
import { defaultRedisUrl } from '../redis/url.js';
import { action, printJson, printTable, withRedisTimeout } from './common.js';
import { readJsonInput } from './config-codec.js';
import { CliError } from './errors.js';
import { parseGpusOption, tritonFromEnv } from './release-options.js';

// bullmq, ioredis, prom-client and the jobs module load inside the actions that use them (start-up time).
const jobsLib = () => import('../jobs/index.js');

function redisOption(cmd: Command): Command {
  return withRedisTimeout(cmd).option(
    '--redis <url>',
    'Redis URL: redis://host:port, rediss://…, redis+sentinel://host:port,…/master, redis+cluster://host:port,… (default: $REDIS_URL or redis://127.0.0.1:6379)',
  );
}

function redisUrl(opts: { redis?: string }): string {
  return opts.redis ?? defaultRedisUrl();
}

/**
 * Resolves on the first SIGTERM/SIGINT. From then on the process ends within `graceMs` + 5 s whatever happens
 * (close() itself is bounded to grace + 3 s; this is the backstop), and a second signal ends it at once.
 */
function untilSignal(graceMs: number, who: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const first = () => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.off(sig, first);
        process.once(sig, () => {
          process.stderr.write(`${who}: second signal, exiting now\n`);
          process.exit(130);
        });
      }
      setTimeout(() => {
        process.stderr.write(`${who}: shutdown did not finish within ${graceMs / 1000 + 5} s, exiting\n`);
        process.exit(1);
      }, graceMs + 5000).unref();
      resolve();
    };
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, first);
  });
}

/** A command-mode client ("cannot reach Redis at URL" instead of a hang); a lost connection becomes the same error. */
async function withClient(
  opts: { redis?: string; redisTimeout?: number },
  fn: (c: ConversionClient) => Promise<void>,
): Promise<void> {
  const url = redisUrl(opts);
  const [{ ConversionClient }, { isConnectionError }] = await Promise.all([jobsLib(), import('../redis/index.js')]);
  const client = await ConversionClient.connect({
    redis: url,
    ...(opts.redisTimeout ? { connectTimeoutMs: opts.redisTimeout } : {}),
  });
  try {
    await fn(client);
  } catch (err) {
    if (isConnectionError(err)) throw client.redis.unreachable(err);
    throw err;
  } finally {
    await client.close();
  }
}

/**
 * `--target TENSORRT/GPU` (10.8/8.6, 10.8/ampere+) or `triton:RELEASE/GPU` (triton:25.01/8.6): the release is
 * resolved to its TensorRT by the job spec (src/jobs/spec.ts, src/release), which refuses an unknown release or one
 * whose TensorRT no source gives.
 */
function parseTarget(text: string): { tensorrt: string; gpu: string } | { triton: string; gpu: string } {
  const m = /^(triton:)?(\d+\.\d+)\/(\d+\.\d+|ampere\+)$/.exec(text);
  if (!m)
    throw new CliError(
      'MSB_CLI_ARGUMENT',
      `--target takes TENSORRT/GPU or triton:RELEASE/GPU, e.g. 10.8/8.6, 10.8/ampere+ or triton:25.01/8.6, got '${text}'`,
    );
  return m[1] ? { triton: m[2] as string, gpu: m[3] as string } : { tensorrt: m[2] as string, gpu: m[3] as string };
}

/**
 * A `triton:RELEASE/GPU` target as the queue sees it: the release's TensorRT major.minor (`MSB_RELEASE_UNKNOWN`,
 * `MSB_RELEASE_TENSORRT_UNKNOWN` when the table cannot give it; the same rules as a spec's `target.triton`).
 */
async function resolveTarget(
  t: { tensorrt: string; gpu: string } | { triton: string; gpu: string },
): Promise<{ tensorrt: string; gpu: string }> {
  if (!('triton' in t)) return t;
  const { releaseTensorrt, resolveRelease } = await import('../release/index.js');
  return { tensorrt: releaseTensorrt(resolveRelease(t.triton, '--target triton:')), gpu: t.gpu };
}

/** A parser of `flag`'s value: a number of seconds > 0. */
function seconds(flag: string): (text: string) => string {
  return (text) => {
    if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0)
      throw new CliError('MSB_CLI_ARGUMENT', `${flag} takes a number of seconds > 0, got '${text}'`);
    return text;
  };
}

/** `--triton-header NAME=VALUE` (or `NAME: VALUE`), repeatable, into a header object. */
function tritonHeader(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*[=:]\s*(.*)$/.exec(text);
  if (!m) throw new CliError('MSB_CLI_ARGUMENT', `--triton-header takes NAME=VALUE (an HTTP header), got '${text}'`);
  return { ...previous, [m[1] as string]: m[2] as string };
}

interface WorkerCliOptions {
  redis?: string;
  store: string;
  gpu: string;
  metricsPort: string;
  grace: string;
  tritonLoad?: string;
  tritonLoadTimeout: string;
  tritonHeader?: Record<string, string>;
  triton?: string;
  gpus?: string;
}

/** The job `id` names: itself when it is a job's id, else the one job whose id starts with it. */
async function fullJobId(c: ConversionClient, id: string): Promise<string> {
  const ids = await c.idsStartingWith(id);
  if (ids.includes(id) || ids.length === 0) return id; // no match: get/cancel say "no job"
  if (ids.length === 1) return ids[0] as string;
  throw new CliError(
    'MSB_CLI_ARGUMENT',
    `job id prefix ${id} matches ${ids.length} jobs (${ids
      .slice(0, 3)
      .map((x) => x.slice(0, 16))
      .join(', ')}${ids.length > 3 ? ', …' : ''}); give more of the id`,
    { id, matches: ids.length },
  );
}

/** Epoch-millisecond fields (`createdAt`, `processedOn`, `finishedOn`) as ISO 8601 for people. */
function showTime(key: string, value: unknown): unknown {
  return typeof value === 'number' && /(At|On)$/.test(key) ? new Date(value).toISOString() : value;
}

function describeJob(j: JobInfo): (string | number)[] {
  const model = j.result?.model ? `${j.result.model}${j.result.version ? `/${j.result.version}` : ''}` : '';
  const note = j.failedReason ?? j.unserved ?? '';
  return [j.id.slice(0, 12), j.kind, j.queue, j.state, model, note];
}

/** `msb serve` for the demo, on loopback without tokens; a free port when the asked one is taken. */
async function startDemoServer(
  where: { redis: string; store: string; artifacts: string },
  port: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const { startApiServer } = await import('../api/index.js');
  try {
    return await startApiServer({ ...where, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return startApiServer({ ...where, port: 0 });
  }
}

export function registerJobCommands(program: Command): void {
  redisOption(program.command('worker'))
    .description(
      'run a conversion worker: pulls jobs from Redis, builds/inspects with TensorRT, publishes to the store',
    )
    .requiredOption('--store <store>', 'model store to publish to: a directory or URI (s3://…, gs://…)')
    .option('--gpu <index>', 'CUDA device this worker builds on', '0')
    .option('--metrics-port <port>', 'serve /healthz and /metrics on this port (0: none)', '0')
    .option('--grace <seconds>', 'on SIGTERM, how long the current job may finish before it is handed back', '30')
    .addOption(
      new Option(
        '--triton-load <url>',
        "after each publish, tell the Triton at this HTTP URL (run with --model-control-mode=explicit) to load the model; retried with backoff, the outcome goes into the job's result (default: off)",
      ).env('MSB_TRITON_URL'),
    )
    .option(
      '--triton-load-timeout <seconds>',
      'with --triton-load: how long one load request may take (Triton answers when the model is loaded)',
      seconds('--triton-load-timeout'),
      '600',
    )
    .option(
      '--triton-header <name=value>',
      "with --triton-load: a header for Triton's restricted repository API (--http-restricted-api); repeatable",
      tritonHeader,
    )
    .option(
      '--triton <release>',
      "Triton release (e.g. 25.01) the published versions must load in; build targets must be its TensorRT (default $MSB_TRITON_RELEASE, else the store's)",
    )
    .option('--gpus <ccs>', "the fleet's compute capabilities (e.g. 8.0,8.6): each needs a plan it can load")
    .action(
      action(async (opts: WorkerCliOptions) => {
        const url = redisUrl(opts);
        const graceMs = Number(opts.grace) * 1000;
        const [{ ConversionWorker, registerWorkerMetrics }, { Registry, startOpsServer }] = await Promise.all([
          jobsLib(),
          import('../server/index.js'),
        ]);
        const triton = opts.triton ?? tritonFromEnv();
        const gpus = await parseGpusOption(opts.gpus);
        const worker = await ConversionWorker.start({
          redis: url,
          store: opts.store,
          ...(triton !== undefined ? { triton } : {}),
          ...(gpus ? { gpus } : {}),
          gpu: Number(opts.gpu),
          graceMs,
          ...(opts.tritonLoad
            ? {
                tritonLoad: {
                  url: opts.tritonLoad,
                  timeoutMs: Number(opts.tritonLoadTimeout) * 1000,
                  ...(opts.tritonHeader ? { headers: opts.tritonHeader } : {}),
                },
              }
            : {}),
        });
        process.stderr.write(
          `msb worker ${worker.id}: ${worker.identity.tensorrt ? `TensorRT ${worker.identity.tensorrtVersion}, sm ${worker.identity.computeCapability}` : `no TensorRT (${worker.identity.reason})`}; queues ${worker.queues.join(', ')}${worker.tritonUrl ? `; loads into Triton at ${worker.tritonUrl}` : ''}\n`,
        );
        const registry = new Registry();
        const gauges = registerWorkerMetrics(registry, worker);
        worker.on((e) => {
          process.stderr.write(
            `${e.type} ${e.job.slice(0, 12)} ${e.type === 'completed' ? JSON.stringify(e.result) : e.error}\n`,
          );
        });
        const server =
          Number(opts.metricsPort) > 0
            ? await startOpsServer({
                port: Number(opts.metricsPort),
                host: '0.0.0.0',
                registry,
                // not ready while Redis is unreachable: no job can be taken or finished
                health: () => {
                  const redis = worker.link.health();
                  return { ok: redis.state === 'ready', worker: worker.id, queues: worker.queues, redis };
                },
              })
            : undefined;
        await untilSignal(graceMs, 'msb worker');
        process.stderr.write('msb worker: stopping (finishing the current job)\n');
        await worker.close();
        await gauges.close();
        await server?.close();
        // Everything msb holds is closed (and BullMQ's timers stopped when its close was abandoned); exit anyway, so
        // nothing a later dependency leaves behind can keep a stopping pod alive.
        process.exit(process.exitCode ?? 0);
      }),
    );

  redisOption(program.command('enqueue'))
    .description('enqueue a conversion job: import (publish as-is), build (ONNX → TensorRT plan) or inspect (plan)')
    .argument('<kind>', 'import | build | inspect')
    .argument('<source>', 'model file: a local path, s3://…, gs://… (store credentials) or https://…')
    .option('--source-digest <sha256>', 'SHA-256 of the source (default: computed, or the object checksum)')
    .option('--model <name>', 'model to publish to (import, build)')
    .option('--version <n>', 'version number (default: next)')
    .option('--target <trt/gpu>', 'build/inspect target, e.g. 10.8/8.6, 10.8/ampere+ or triton:25.01/8.6')
    .option('--max-batch-size <n>', 'max_batch_size of the generated config')
    .option('--spec <file>', 'a full job spec as JSON instead of the options (- for standard input)')
    .option('--wait', 'wait for the result, saying on stderr what the job waits for')
    .option(
      '--timeout <seconds>',
      'with --wait: give up waiting after this long (exit 2; the job stays queued)',
      seconds('--timeout'),
    )
    .option('--json', 'print JSON')
    .action(
      action(async (kind: string, source: string, opts: Record<string, string | boolean | undefined>) => {
        const target = opts.target ? await resolveTarget(parseTarget(opts.target as string)) : undefined;
        const spec: JobSpecInput = opts.spec
          ? ((await readJsonInput(opts.spec as string)) as JobSpecInput)
          : ({
              kind,
              source,
              ...(opts.sourceDigest ? { sourceDigest: opts.sourceDigest } : {}),
              ...(kind !== 'inspect'
                ? {
                    output: {
                      model: opts.model,
                      ...(opts.version ? { version: Number(opts.version) } : {}),
                      ...(opts.maxBatchSize ? { maxBatchSize: Number(opts.maxBatchSize) } : {}),
                    },
                  }
                : {}),
              ...(target ? { target } : {}),
            } as JobSpecInput);
        // A spec msb cannot queue is refused before Redis is reached.
        (await jobsLib()).parseJobSpec(spec);
        await withClient(opts as { redis?: string }, async (client) => {
          const handle = await client.enqueue(spec);
          const info = await handle.info();
          const out: Record<string, unknown> = {
            id: handle.id,
            queue: handle.queue,
            deduplicated: handle.deduplicated,
            state: info?.state,
          };
          if (info?.unserved) out.waiting = info.unserved;
          if (opts.wait || opts.timeout !== undefined) {
            const { waitWithStatus } = await import('./job-wait.js');
            out.result = await waitWithStatus(
              handle,
              opts.timeout === undefined ? undefined : Number(opts.timeout) * 1000,
            );
            // The state read at enqueue time (waiting, active) is stale beside the result: the wait returned it, so
            // the job completed.
            out.state = 'completed';
            delete out.waiting;
          }
          if (opts.json) printJson(out);
          else
            process.stdout.write(
              `${Object.entries(out)
                .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
                .join('\n')}\n`,
            );
        });
      }),
    );

  const jobs = program.command('jobs').description('list, show, cancel and retry conversion jobs');
  redisOption(jobs.command('ls'))
    .description('all jobs, newest first')
    .option('--json', 'print JSON')
    .action(
      action((opts: { redis?: string; json?: boolean }) =>
        withClient(opts, async (c) => {
          const list = await c.list();
          if (opts.json) printJson(list);
          else printTable(['id', 'kind', 'queue', 'state', 'model', 'note'], list.map(describeJob));
        }),
      ),
    );
  redisOption(jobs.command('show'))
    .description("a job's state, progress, result or failure (times in ISO 8601, UTC)")
    .argument('<id>', 'job id, or a unique prefix of it (listings show 12 characters)')
    .option('--json', 'print JSON (times in epoch milliseconds, as the API)')
    .action(
      action((id: string, opts: { redis?: string; json?: boolean }) =>
        withClient(opts, async (c) => {
          const info = await c.get(await fullJobId(c, id));
          if (!info) throw new JobError('MSB_JOB_NOT_FOUND', `no job ${id}`);
          if (opts.json) printJson(info);
          else
            for (const [k, v] of Object.entries(info))
              process.stdout.write(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : showTime(k, v)}\n`);
        }),
      ),
    );
  redisOption(jobs.command('cancel'))
    .description('cancel a job: a waiting one is removed, a running one is stopped by its worker')
    .argument('<id>', 'job id, or a unique prefix of it')
    .action(
      action((id: string, opts: { redis?: string }) =>
        withClient(opts, async (c) => {
          const full = await fullJobId(c, id);
          const done = await c.cancel(full);
          process.stdout.write(
            done === 'removed'
              ? `job ${full}: removed (no worker had started it)\n`
              : `job ${full}: running; its worker was told to stop it (msb jobs show ${full.slice(0, 12)} shows when it has)\n`,
          );
        }),
      ),
    );
  redisOption(jobs.command('retry'))
    .description('run a failed job again')
    .argument('<id>', 'job id, or a unique prefix of it')
    .action(
      action((id: string, opts: { redis?: string }) =>
        withClient(opts, async (c) => {
          const full = await fullJobId(c, id);
          await c.retry(full);
          process.stdout.write(`job ${full}: queued again\n`);
        }),
      ),
    );

  program
    .command('demo')
    .description('the main job on the embedded defaults: local Redis, a worker, sample models → ./model-store')
    .option('--store <path>', 'model store', 'model-store')
    .option('--keep', 'leave the worker and the dashboard running after the demo, until Ctrl-C')
    .option('--port <port>', 'port of the dashboard and API (taken: a free one)', '8080')
    .option('--no-serve', 'do not start the dashboard and API')
    .action(
      action(async (opts: { store: string; keep?: boolean; port: string; serve: boolean }) => {
        const { runDemo } = await jobsLib();
        const result = await runDemo({
          store: opts.store,
          ...(opts.serve ? { serve: (where) => startDemoServer(where, Number(opts.port)) } : {}),
          ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
          ...(opts.keep ? { keep: true } : {}),
        });
        if (result.stop) {
          // the demo's worker has a 5 s grace period
          await untilSignal(5000, 'msb demo');
          await result.stop();
          process.exit(process.exitCode ?? 0); // as for msb worker: BullMQ may still wait for an unreachable Redis
        }
      }),
    );
}
