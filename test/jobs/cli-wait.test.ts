import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

let redis: TestTopology;
before(async () => {
  redis = await startTestRedis();
});
after(() => redis.stop());

test('enqueue --wait on a target no live worker serves says so while it waits, and --timeout ends the wait', async () => {
  const dir = await tempDir();
  const model = path.join(dir, 'model.onnx');
  await writeFile(model, 'bytes no worker will read: none serves the target');
  const started = Date.now();
  const r = await runCli(
    [
      'enqueue',
      'build',
      model,
      '--model',
      'm',
      '--target',
      '10.8/8.6',
      '--wait',
      '--timeout',
      '3',
      '--redis',
      redis.url,
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /msb: waiting for job [0-9a-f]{12} on msb-trt10\.8-sm86 .*: waiting: no live worker serves msb-trt10\.8-sm86/,
  );
  assert.match(r.stderr, /msb: MSB_JOB_WAIT_TIMEOUT: job [0-9a-f]+ is still waiting after 3000 ms/);
  assert.ok(Date.now() - started >= 3000, 'waited the time asked');

  // The job stays queued: a second wait finds it (deduplicated) and says the same.
  const again = await runCli(
    ['enqueue', 'build', model, '--model', 'm', '--target', '10.8/8.6', '--timeout', '1', '--redis', redis.url],
    { timeoutMs: 60_000 },
  );
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /no live worker serves msb-trt10\.8-sm86/);
});

test('--timeout takes a positive number of seconds', async () => {
  const r = await runCli(['enqueue', 'build', 'model.onnx', '--timeout', 'soon', '--redis', redis.url]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^msb: MSB_CLI_ARGUMENT: --timeout takes a number of seconds > 0, got 'soon'/);
});
