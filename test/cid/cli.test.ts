import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CorrelationIds } from '../../src/cid/index.js';
import { runCli } from '../helpers/cli.js';
import { freePort, startTestRedis, type TestTopology } from '../helpers/redis.js';

let redis: TestTopology;
before(async () => {
  redis = await startTestRedis({ aof: true });
});
after(async () => {
  await redis.stop();
});

test('msb cid acquire / ls / renew / release round trip, with --json and REDIS_URL', async () => {
  const env = { REDIS_URL: redis.url };
  const acquired = await runCli(['cid', 'acquire', 'cli-model', '--ttl', '600000', '--json'], { env });
  assert.equal(acquired.code, 0, acquired.stderr);
  const lease = JSON.parse(acquired.stdout) as { id: string; token: string; kind: string; expiresAt: number };
  assert.equal(lease.id, '1');
  assert.equal(lease.kind, 'uint64');

  // Ttls far beyond the test's length: each CLI call here starts a tsx process, several seconds on a loaded machine,
  // and with the default 30 s the lease expired before the test released it (seen: MSB_CID_EXPIRED at 41 s).
  const str = await runCli([
    'cid',
    'acquire',
    'cli-model',
    '--kind',
    'string',
    '--ttl',
    '600000',
    '--redis',
    redis.url,
  ]);
  assert.equal(str.code, 0, str.stderr);
  const [head, row] = str.stdout.trim().split('\n');
  assert.equal(head, 'id\ttoken\texpires');
  const [id2, token2] = (row ?? '').split('\t');
  assert.equal(id2, '2');

  // the CLI's view agrees with the library's
  const ids = new CorrelationIds(redis.url);
  try {
    const ls = await runCli(['cid', 'ls', 'cli-model', '--json'], { env });
    assert.equal(ls.code, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout) as { id: string; expiresAt: number }[];
    assert.deepEqual(
      listed.map((l) => l.id),
      (await ids.list('cli-model')).map((l) => String(l.id)),
    );
    assert.deepEqual(
      listed.map((l) => l.id),
      ['1', '2'],
    );

    const renewed = await runCli(
      ['cid', 'renew', 'cli-model', '1', '--token', lease.token, '--ttl', '1200000', '--json'],
      {
        env,
      },
    );
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.ok((JSON.parse(renewed.stdout) as { expiresAt: number }).expiresAt >= lease.expiresAt + 59_000);

    const wrong = await runCli(['cid', 'release', 'cli-model', '1', '--token', token2 ?? ''], { env });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^msb: MSB_CID_NOT_HELD: /);

    for (const [id, token] of [
      ['1', lease.token],
      ['2', token2 ?? ''],
    ] as const) {
      const released = await runCli(['cid', 'release', 'cli-model', id, '--token', token], { env });
      assert.equal(released.code, 0, released.stderr);
    }
    assert.deepEqual(await ids.list('cli-model'), []);
    const empty = await runCli(['cid', 'ls', 'cli-model'], { env });
    assert.equal(empty.stdout, 'id\tacquired\texpires\tttl\n');
  } finally {
    await ids.close();
  }
});

test('msb cid: bad input and an unreachable Redis are typed errors with exit status 2', async () => {
  const env = { REDIS_URL: redis.url };
  const cases: [string[], string][] = [
    [['cid', 'acquire', '.hidden'], 'MSB_CID_MODEL_NAME'],
    [['cid', 'acquire', 'm', '--ttl', '0'], 'MSB_CID_TTL'],
    [['cid', 'acquire', 'm', '--ttl', '2.5'], 'MSB_CID_TTL'],
    [['cid', 'acquire', 'm', '--kind', 'int32'], 'MSB_CID_KIND'],
    [['cid', 'release', 'm', '0', '--token', 't'], 'MSB_CID_ID'],
    [['cid', 'release', 'm', '7', '--token', 't'], 'MSB_CID_NOT_HELD'],
    [['cid', 'ls', 'm', '--redis', `redis://127.0.0.1:${await freePort()}`], 'MSB_REDIS_UNREACHABLE'],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(args, { env });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^msb: ${expected}: `), args.join(' '));
  }
});
