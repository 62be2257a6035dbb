import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectRedis, mask } from '../redis/index.js';
import { ModelStore } from '../store/index.js';
import { ConversionClient, type ConversionHandle } from './client.js';
import { startRedis } from './redis-server.js';
import { writeSampleModels } from './samples.js';
import type { BuildTarget } from './spec.js';
import { ConversionWorker } from './worker.js';

export interface DemoOptions {
  /** Store to publish to. Default: ./model-store. */
  store?: string;
  /** Redis to use; when absent a local redis-server is started for the demo and stopped after. */
  redisUrl?: string;
  /** Leave the worker (and the Redis the demo started) running after the demo. */
  keep?: boolean;
  /** Where progress and the summary go. Default: stdout. */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Starts the dashboard and API (`msb serve`) on the demo's Redis and store. Passed in by the CLI, which loads the
   * HTTP server only then: the jobs module does not depend on it.
   */
  serve?: (where: {
    redis: string;
    store: string;
    artifacts: string;
  }) => Promise<{ url: string; close(): Promise<void> }>;
}

export interface DemoResult {
  published: { model: string; version: number; source: string }[];
  waiting: { model: string; job: string; reason: string }[];
  repositoryProblems: number;
  /** The dashboard, when `serve` was given. */
  dashboard?: string;
  /** With `keep`: call to stop what the demo left running. */
  stop?: () => Promise<void>;
}

/** The target a TensorRT worker would need for the demo's build job, when this machine has none. */
const DEFAULT_TARGET: BuildTarget = { tensorrt: '10.8', gpu: '8.6' };

/**
 * The main job on the embedded defaults: a Redis (started here unless given), a store, a worker, and conversions
 * of sample models msb writes itself: ONNX imports (served here) and a TensorRT build (built when this machine has
 * TensorRT and a GPU, else left waiting for a worker that has them).
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const out = options.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const storePath = path.resolve(options.store ?? 'model-store');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'msb-demo-'));
  const cleanups: (() => Promise<void>)[] = [() => rm(tmp, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    let redisUrl = options.redisUrl;
    if (!redisUrl) {
      const redis = await startRedis(tmp);
      redisUrl = redis.url;
      cleanups.push(redis.stop);
      say(`redis:   started redis-server at ${redisUrl}`);
    } else {
      // a Redis given by the user: "cannot reach Redis at URL" within 5 s rather than a worker waiting for it
      await (await connectRedis(redisUrl)).close();
      say(`redis:   ${mask(redisUrl)}`);
    }
    await ModelStore.open(storePath, { create: true });
    say(`store:   ${storePath}`);

    const worker = await ConversionWorker.start({ redis: redisUrl, store: storePath, graceMs: 5000 });
    cleanups.push(() => worker.close());
    const trt = worker.identity.tensorrt
      ? `TensorRT ${worker.identity.tensorrtVersion} on sm ${worker.identity.computeCapability}`
      : `no TensorRT (${worker.identity.reason})`;
    say(`worker:  ${trt}; serving ${worker.queues.join(', ')}`);
    const client = await ConversionClient.connect({ redis: redisUrl });
    cleanups.push(() => client.close());
    let dashboard: string | undefined;
    if (options.serve) {
      const server = await options.serve({ redis: redisUrl, store: storePath, artifacts: path.join(tmp, 'artifacts') });
      cleanups.push(() => server.close());
      dashboard = `${server.url}/`;
      say(`serve:   dashboard and API at ${dashboard}${options.keep ? '' : ' while the demo runs'}`);
    }

    const samples = await writeSampleModels(tmp);
    const target: BuildTarget =
      worker.identity.tensorrt && worker.identity.computeCapability
        ? { tensorrt: worker.identity.tensorrt, gpu: worker.identity.computeCapability }
        : DEFAULT_TARGET;
    const imports = await Promise.all(
      samples.map((s) => client.enqueue({ kind: 'import', source: s.file, output: { model: s.name } })),
    );
    const linear = samples[0]?.file as string;
    const build = await client.enqueue({
      kind: 'build',
      source: linear,
      target,
      output: { model: 'linear_classifier_trt' },
    });
    say(
      `enqueued ${imports.length} imports and 1 TensorRT build (target TensorRT ${target.tensorrt}, GPU ${target.gpu})`,
    );

    await followProgress(
      out,
      imports,
      samples.map((s) => s.name),
    );
    const published: DemoResult['published'] = [];
    for (const [i, handle] of imports.entries()) {
      const r = await handle.result(60_000);
      published.push({ model: r.model as string, version: r.version as number, source: samples[i]?.file as string });
    }
    const waiting: DemoResult['waiting'] = [];
    const info = await client.get(build.id);
    if (info?.unserved) {
      waiting.push({ model: 'linear_classifier_trt', job: build.id, reason: info.unserved });
    } else {
      const r = await build.result(10 * 60_000);
      published.push({ model: r.model as string, version: r.version as number, source: linear });
    }

    const problems = await (await ModelStore.open(storePath)).validate();
    say('');
    for (const p of published) say(`published ${p.model} version ${p.version}  (${path.basename(p.source)})`);
    for (const w of waiting) say(`waiting   ${w.model}: job ${w.job.slice(0, 12)}… ${w.reason}`);
    say(
      `repository ${storePath}: ${problems.length === 0 ? 'valid, as Triton would load it' : `${problems.length} problems (msb validate ${storePath})`}`,
    );

    const result: DemoResult = {
      published,
      waiting,
      repositoryProblems: problems.length,
      ...(dashboard ? { dashboard } : {}),
    };
    if (options.keep) {
      say(
        dashboard
          ? `--keep: the worker and the dashboard (${dashboard}) keep running; stop them with Ctrl-C`
          : '--keep: the worker keeps running; stop it with Ctrl-C',
      );
      result.stop = cleanup;
      return result;
    }
    await cleanup();
    // The dashboard line above named a server that is gone now: say so, and how to keep it.
    if (dashboard) say(`serve:   stopped with the demo; msb demo --keep leaves the dashboard and the worker running`);
    return result;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Progress bars in a terminal, plain lines elsewhere. */
async function followProgress(
  out: DemoOptions['out'] & object,
  handles: ConversionHandle[],
  names: string[],
): Promise<void> {
  if (!out.isTTY) {
    for (const [i, h] of handles.entries()) h.on('progress', (p) => out.write(`  ${names[i]}: ${JSON.stringify(p)}\n`));
    return;
  }
  // Loaded for a terminal only: the bars are the demo's, not the library's (msb/jobs does not load them).
  const { default: cliProgress } = await import('cli-progress');
  const bars = new cliProgress.MultiBar(
    {
      format: '  {bar} {percentage}% {name} {phase}',
      hideCursor: true,
      clearOnComplete: false,
      stream: out as NodeJS.WritableStream,
    },
    cliProgress.Presets.shades_classic,
  );
  const done = handles.map((h, i) => {
    const bar = bars.create(100, 0, { name: names[i], phase: 'queued' });
    h.on('progress', (p) => {
      const { percent, phase } = p as { percent: number; phase: string };
      bar.update(percent, { phase });
    });
    return h.result(60_000).then(
      () => bar.update(100, { phase: 'published' }),
      () => bar.update(0, { phase: 'failed' }),
    );
  });
  await Promise.all(done);
  bars.stop();
}
