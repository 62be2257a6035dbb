import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
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

// The race behind a CI hang: Redis went away while a status report was in flight, the wait rejected and cleared its
// timer, then the report finished and armed a new one; it kept `msb enqueue --wait` alive after printing its error.
// Mock timers make the interleaving exact; the outage suite shows the same end to end with a real Redis killed.
test('--wait status reports stop for good when the wait fails, even with a report in flight', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { waitWithStatus } = await import('../../src/cli/job-wait.js');
  let infoCalls = 0;
  let releaseInfo: () => void = () => {};
  let failResult: (err: Error) => void = () => {};
  const handle = {
    id: '0123456789abcdef',
    queue: 'msb-import',
    info: () => {
      infoCalls += 1;
      // The first report answers at once; the second hangs, as info() does while ioredis retries a lost Redis.
      if (infoCalls === 1) return Promise.resolve(undefined);
      return new Promise<undefined>((resolve) => {
        releaseInfo = () => resolve(undefined);
      });
    },
    result: () =>
      new Promise<never>((_resolve, reject) => {
        failResult = reject;
      }),
  };
  const waited = waitWithStatus(handle);
  await settle(); // the first report ends and arms the next (setImmediate is not mocked)
  t.mock.timers.tick(2000); // the second report starts and hangs
  assert.equal(infoCalls, 2);
  failResult(new Error('Redis went away'));
  await assert.rejects(waited, /Redis went away/);
  releaseInfo(); // the hung report ends after the wait did
  await settle();
  t.mock.timers.tick(60_000);
  assert.equal(infoCalls, 2, 'no report after the wait ended');
});

test('enqueue --spec: a file that is not JSON or not there is named, exit 2, never MSB_INTERNAL', async () => {
  const dir = await tempDir();
  const bad = path.join(dir, 'job.json');
  await writeFile(bad, '{"kind": "import",');
  const notJson = await runCli(['enqueue', 'import', 'x', '--spec', bad, '--redis', redis.url]);
  assert.equal(notJson.code, 2, notJson.stderr);
  assert.match(notJson.stderr, /^msb: MSB_CLI_JSON: .*job\.json: not JSON: /);
  const missing = await runCli(['enqueue', 'import', 'x', '--spec', path.join(dir, 'none.json'), '--redis', redis.url]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^msb: MSB_CLI_READ: cannot read .*none\.json: ENOENT/);
  const stdin = await runCli(['enqueue', 'import', 'x', '--spec', '-', '--redis', redis.url], { input: 'nope' });
  assert.equal(stdin.code, 2, stdin.stderr);
  assert.match(stdin.stderr, /^msb: MSB_CLI_JSON: -: not JSON: /);
});
