/**
 * Poll mode against the real tritonserver 2.51 (`--model-control-mode=poll --repository-poll-secs=1`) while 4 msb
 * writer processes change the repository under it: versions added (`msb version add`) and removed (`msb rm
 * --version`), configs edited (`msb config set --set`), labels set (`msb labels set`). Triton must never see a
 * half-written version or config: its log has no failed load, and once the writers stop its index matches `msb ls`
 * (the latest version of each model READY: the default version policy). Once on a local directory, once on s3rver
 * with Triton reading the bucket itself, in both URI forms.
 *
 * Duration: MSB_TRITON_POLL_SECONDS (CI: 60), default 10 s on a shared machine.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliOk } from '../helpers/cli.js';
import { S3RVER_ENV, useS3WithRedis } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { until } from '../helpers/until.js';
import { ADD_ONE } from './models.js';

const skip = skipWithoutTriton();
const seconds = Number(process.env.MSB_TRITON_POLL_SECONDS ?? (process.env.CI ? 60 : 10));
const MODELS = ['alpha', 'beta'];

/** Start-up lines of a machine without a GPU (docs/triton.md "What the server needs"): nothing depends on them. */
const NO_GPU = [
  'CudaDriverHelper has not been initialized',
  'Failed to initialize NVML',
  'DCGM unable to start',
  'Unable to allocate pinned system memory',
];

/**
 * The log lines that say a load went wrong: an error line, or any line with "fail", "not found" or "error" (a
 * version Triton saw half-written is `Failed to preinitialize Python stub: Python model file not found`, logged at
 * level I), less the GPU-less start-up lines.
 */
function loadProblems(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => /^E\d{4} |fail|not found|error/i.test(l))
    .filter((l) => !NO_GPU.some((w) => l.includes(w)));
}

interface Tally {
  ops: Record<string, number>;
  failures: string[];
}

async function msb(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  await runCliOk(args, { env, timeoutMs: 120_000 });
}

/** The versions `msb ls --json` lists per model. */
async function msbLs(store: string, env: NodeJS.ProcessEnv): Promise<Map<string, number[]>> {
  const r = await runCli(['ls', store, '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { model: string; versions: number[] }[];
  return new Map(rows.map((m) => [m.model, m.versions]));
}

/**
 * One writer: until the deadline, on its model, in turn: add a version, edit the config, set labels, remove the
 * oldest version while more than one is left and Triton neither serves nor loads it. Two writers per model, so
 * writes to one model race.
 *
 * Why ask Triton before a removal: a polling Triton loads the version that was the latest at its last poll. Two
 * versions added since, the oldest of them may be that one, and removing it while Triton loads it fails the load
 * (`Python model file not found`), after which Triton 2.51 leaves the model LOADING until it changes again (seen
 * once in CI, local directory). That is the removal of a version in use, not a half-written one, and an operator
 * avoids it the same way (docs/triton.md).
 */
async function writer(
  id: number,
  store: string,
  files: { model: string; labels: string },
  deadline: number,
  env: NodeJS.ProcessEnv,
  tally: Tally,
  ops: string[],
  inUse: (model: string) => Promise<number>,
): Promise<void> {
  const model = MODELS[id % MODELS.length] as string;
  for (let step = id; Date.now() < deadline; step++) {
    const op = ops[step % ops.length] as string;
    try {
      if (op === 'version add') await msb(['version', 'add', store, model, files.model], env);
      else if (op === 'config set')
        await msb(['config', 'set', store, model, '--set', `instance_group[0].count=${1 + (step % 2)}`], env);
      else if (op === 'labels set') await msb(['labels', 'set', store, model, 'OUTPUT0', files.labels], env);
      else {
        const versions = (await msbLs(store, env)).get(model) ?? [];
        const oldest = versions[0];
        if (versions.length <= 1 || oldest === undefined || oldest >= (await inUse(model))) continue;
        await msb(['rm', store, model, '--version', String(oldest)], env);
      }
      tally.ops[op] = (tally.ops[op] ?? 0) + 1;
    } catch (err) {
      // Two writers removing the same version: the second is told it is gone. Anything else is a failure.
      if (op === 'rm --version' && /MSB_STORE_NOT_FOUND|does not exist/.test(String(err))) continue;
      tally.failures.push(String(err));
    }
  }
}

/** Publishes the two models, starts Triton polling `repository`, runs the 4 writers, checks log and index. */
async function pollRun(
  store: string,
  repository: string,
  env: NodeJS.ProcessEnv,
  tritonEnv: NodeJS.ProcessEnv,
  ops = ['version add', 'config set', 'labels set', 'rm --version'],
) {
  const dir = await tempDir();
  const files = { model: path.join(dir, 'model.py'), labels: path.join(dir, 'labels.txt') };
  await writeFile(files.model, ADD_ONE);
  await writeFile(files.labels, 'zero\none\ntwo\nthree\n');
  await msb(['init', store], env);
  for (const m of MODELS) {
    await msb(
      [
        'add',
        '--store-path',
        store,
        '--model',
        files.model,
        '--name',
        m,
        '--platform',
        'python',
        '--input',
        'INPUT0:FP32:4',
        '--output',
        'OUTPUT0:FP32:4',
      ],
      env,
    );
    await msb(['config', 'set', store, m, '--set', 'instance_group[0].kind=KIND_CPU'], env);
  }
  const server = await TritonServer.start({ repository, mode: 'poll', pollSecs: 1, env: tritonEnv });
  try {
    const tally: Tally = { ops: {}, failures: [] };
    const deadline = Date.now() + seconds * 1000;
    /** The oldest version of `model` Triton serves or is loading; 0 when none (then nothing is removed). */
    const inUse = async (model: string) => {
      const versions = (await server.index())
        .filter((e) => e.name === model && (e.state === 'READY' || e.state === 'LOADING'))
        .map((e) => Number(e.version));
      return versions.length > 0 ? Math.min(...versions) : 0;
    };
    await Promise.all([0, 1, 2, 3].map((id) => writer(id, store, files, deadline, env, tally, ops, inUse)));
    assert.deepEqual(tally.failures, []);
    const listed = await msbLs(store, env);
    const expected = [...listed].map(([m, v]) => [m, String(Math.max(...v))]).sort();
    // Triton picks the last writes up within a poll or two; a load of a python model takes a few seconds.
    let ready: string[][] = [];
    await until(
      'Triton’s READY versions to match msb ls',
      async () => {
        ready = (await server.index())
          .filter((e) => e.state === 'READY')
          .map((e) => [e.name, e.version ?? ''])
          .sort();
        return JSON.stringify(ready) === JSON.stringify(expected);
      },
      60_000,
    ).catch((err) => {
      throw new Error(`${err}\nmsb ls: ${JSON.stringify(expected)}\nTriton: ${JSON.stringify(ready)}\n${server.log()}`);
    });
    const log = server.log();
    // 2.51 logs "loading: MODEL:VERSION" per version and "successfully loaded 'MODEL'" per model.
    const loads = log.match(/"loading: [^:"]+:\d+"/g) ?? [];
    const failed = loadProblems(log);
    const report = { seconds, ops: tally.ops, loads: loads.length, failed: failed.length };
    // The numbers the issue asks for (docs/triton.md "Poll mode under writers").
    console.log(`poll ${repository.startsWith('s3://') ? 'S3' : 'local'}: ${JSON.stringify(report)}`);
    assert.deepEqual(failed, [], log);
    for (const m of MODELS) assert.ok((tally.ops['version add'] ?? 0) > 0, `no version added to ${m}`);
    // Every version Triton loaded was one msb published: more than the two first loads means it followed the writes.
    assert.ok(loads.length > MODELS.length, log);
    return report;
  } finally {
    await server.close();
  }
}

test('negative control: a version directory made without msb (empty, then filled) is what the checks catch', {
  skip,
}, async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  const source = path.join(dir, 'model.py');
  await writeFile(source, ADD_ONE);
  await msb(['init', store], {});
  await msb(
    ['add', '--store-path', store, '--model', source, '--name', 'alpha', '--platform', 'python'].concat([
      '--input',
      'INPUT0:FP32:4',
      '--output',
      'OUTPUT0:FP32:4',
    ]),
    {},
  );
  const server = await TritonServer.start({ repository: store, mode: 'poll', pollSecs: 1 });
  try {
    assert.deepEqual(loadProblems(server.log()), []);
    // What a writer that is not atomic shows a polling Triton: the version directory before its file.
    await mkdir(path.join(store, 'alpha', '2'));
    await server.waitForLog(/Python model file not found/, 30_000);
    await writeFile(path.join(store, 'alpha', '2', 'model.py'), ADD_ONE);
    assert.match(loadProblems(server.log()).join('\n'), /Failed to preinitialize Python stub/);
    // Triton took version 2 up and it never gets READY (the stub gave up on it): the READY index cannot match.
    await sleep(3000);
    const v2 = (await server.index()).find((m) => m.name === 'alpha' && m.version === '2');
    assert.notEqual(v2?.state, 'READY', JSON.stringify(v2));
    assert.equal(await server.modelReady('alpha', '2'), false);
  } finally {
    await server.close();
  }
});

test('local directory: 4 msb writers under Triton polling every second', { skip }, async () => {
  const store = path.join(await tempDir(), 'store');
  await pollRun(store, store, {}, {});
});

describe('S3 (s3rver): Triton reads the bucket itself', { skip }, () => {
  const servers = useS3WithRedis();

  // Triton's S3 client (the AWS SDK for C++) gets s3rver's credentials from the environment, like msb's.
  const tritonEnv = { ...S3RVER_ENV, AWS_DEFAULT_REGION: S3RVER_ENV.AWS_REGION };
  // No version removal on S3: Triton 2.51 copies a model's whole directory (every version) when it loads one, so a
  // version msb removes during that copy fails the load ("Failed to get object at …/alpha/3/.msb-version.json …
  // NoSuchKey", seen in a 60 s run: 11 removals, 2 failed loads). A known limit, written in docs/triton.md; the local
  // run keeps removals (Triton reads a local version in place).
  const s3Ops = ['version add', 'config set', 'labels set'];

  test('s3://127.0.0.1:PORT/bucket/prefix (host:port form, HTTP by default)', async () => {
    const [s3, redis] = [servers.s3(), servers.redis()];
    const store = s3.uri('hostport');
    await pollRun(store, `s3://127.0.0.1:${s3.port}/${s3.bucket}/hostport`, { REDIS_URL: redis.url }, tritonEnv, s3Ops);
  });

  test('s3://http://127.0.0.1:PORT/bucket/prefix (scheme form)', async () => {
    const [s3, redis] = [servers.s3(), servers.redis()];
    const store = s3.uri('scheme');
    await pollRun(store, store, { REDIS_URL: redis.url }, tritonEnv, s3Ops);
  });
});
