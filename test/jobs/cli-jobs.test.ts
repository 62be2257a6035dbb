import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeSampleModels } from '../../src/jobs/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

let redis: TestTopology;
before(async () => {
  redis = await startTestRedis();
});
after(() => redis.stop());

test('enqueue --wait prints the final state beside the result, not the state read when the job was enqueued', async () => {
  const dir = await tempDir();
  const [sample] = await writeSampleModels(dir);
  const env = { REDIS_URL: redis.url };
  const worker = spawnCli(['worker', '--store', path.join(dir, 'store'), '--grace', '1'], { env });
  try {
    await runCli(['init', path.join(dir, 'store')]);
    const r = await runCli(['enqueue', 'import', sample?.file as string, '--model', 'm', '--wait'], {
      env,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr + worker.stderr());
    assert.match(r.stdout, /^state: completed$/m);
    assert.match(r.stdout, /^result: \{.*"model":"m"/m);
    // Before: the state read at enqueue time (`state: waiting` or `state: active`) sat next to the result.
    assert.equal(r.stdout.match(/^state: /gm)?.length, 1, r.stdout);
    assert.doesNotMatch(r.stdout, /^waiting: /m);
  } finally {
    worker.proc.kill('SIGTERM');
    await worker.exited;
  }
});

test('jobs show takes the 12-character id listings print and shows ISO times; cancel and retry say what they did', async () => {
  const dir = await tempDir();
  const [sample] = await writeSampleModels(dir);
  const env = { REDIS_URL: redis.url };
  const enq = await runCli(
    ['enqueue', 'build', sample?.file as string, '--model', 'c', '--target', '10.8/8.6', '--json'],
    { env },
  );
  assert.equal(enq.code, 0, enq.stderr);
  const id = (JSON.parse(enq.stdout) as { id: string }).id;
  const ls = await runCli(['jobs', 'ls'], { env });
  const short = id.slice(0, 12);
  assert.match(ls.stdout, new RegExp(`^${short}\\t`, 'm'), 'listings show 12 characters');

  const show = await runCli(['jobs', 'show', short], { env });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^id: ${id}$`, 'm'));
  // Before: `createdAt: 1764700000000` (epoch milliseconds).
  assert.match(show.stdout, /^createdAt: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
  const json = await runCli(['jobs', 'show', short, '--json'], { env });
  assert.equal(typeof (JSON.parse(json.stdout) as { createdAt: unknown }).createdAt, 'number', 'JSON keeps numbers');

  const retry = await runCli(['jobs', 'retry', short], { env });
  assert.equal(retry.code, 2);
  assert.match(retry.stderr, /^msb: MSB_JOB_NOT_FAILED: job [0-9a-f]+ has not failed$/m);

  const cancel = await runCli(['jobs', 'cancel', short], { env });
  assert.equal(cancel.code, 0, cancel.stderr);
  // Before: nothing at all.
  assert.equal(cancel.stdout, `job ${id}: removed (no worker had started it)\n`);
  const gone = await runCli(['jobs', 'show', short], { env });
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, new RegExp(`^msb: MSB_JOB_NOT_FOUND: no job ${short}$`, 'm'));
});
