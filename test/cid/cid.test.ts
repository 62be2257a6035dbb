import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorrelationIds, type Lease, MAX_UINT64, parseId } from '../../src/cid/index.js';
import { isMsbError } from '../../src/errors.js';
import { type RedisConnection, type RedisLink, scanKeys } from '../../src/redis/index.js';
import { adminRedis, startTestRedis, type TestTopology } from '../helpers/redis.js';

let redis: TestTopology;
let admin: RedisLink;
let raw: RedisConnection;
let ids: CorrelationIds;
before(async () => {
  redis = await startTestRedis({ aof: true });
  admin = await adminRedis(redis.url);
  raw = admin.connection;
  ids = new CorrelationIds(raw, { ttl: 10_000, reuseDelay: 0 });
});
after(async () => {
  await ids.close();
  await admin.close();
  await redis.stop();
});

const code = (c: string) => (err: unknown) => isMsbError(err, c);

/** Waits until the Redis server clock reaches `ms`. */
async function untilServerTime(ms: number): Promise<void> {
  for (;;) {
    const [s, us] = await raw.time();
    if (Number(s) * 1000 + Math.floor(Number(us) / 1000) >= ms) return;
    await sleep(10);
  }
}

test('acquire hands out distinct non-zero IDs in order; list shows the live ones; release ends them', async () => {
  const a = await ids.acquire('basic');
  const b = await ids.acquire('basic', { kind: 'string' });
  assert.equal(a.id, 1n);
  assert.equal(b.id, '2');
  assert.equal(a.model, 'basic');
  assert.equal(a.expiresAt - a.acquiredAt, 10_000);
  assert.notEqual(a.token, b.token);
  assert.deepEqual(
    (await ids.list('basic')).map((l) => l.id),
    [1n, 2n],
  );
  await ids.release(a);
  assert.deepEqual(
    (await ids.list('basic')).map((l) => l.id),
    [2n],
  );
  assert.deepEqual(await ids.list('other-model'), []);
  await ids.release(b);
});

test('clients on separate connections acquiring at once all get different IDs', async () => {
  const clients = Array.from({ length: 20 }, () => new CorrelationIds(redis.url));
  try {
    const leases = await Promise.all(clients.map((c) => c.acquire('parallel')));
    assert.equal(new Set(leases.map((l) => l.id)).size, 20);
    await Promise.all(leases.map((l, i) => clients[i]?.release(l)));
    assert.deepEqual(await ids.list('parallel'), []);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('concurrent calls on one shared client: distinct IDs, and each call keeps its own reply or error', async () => {
  const shared = new CorrelationIds(raw, { ttl: 10_000, reuseDelay: 0 });
  const leases = await Promise.all(Array.from({ length: 200 }, () => shared.acquire('batched')));
  const seen = new Set(leases.map((l) => l.id));
  assert.equal(seen.size, 200);
  assert.ok(!seen.has(0n));
  assert.equal((await shared.list('batched')).length, 200);
  // one batch mixing good and bad releases and renewals: only the bad ones fail, each with its own error
  const [first, second] = leases as [Lease<'uint64'>, Lease<'uint64'>];
  const settled = await Promise.allSettled([
    shared.release(first),
    shared.release({ ...second, token: 'not-the-token' }),
    shared.renew(second, { ttl: 20_000 }),
    shared.release({ model: 'batched', id: 999_999n, token: 'never-acquired' }),
    ...leases.slice(2).map((l) => shared.release(l)),
  ]);
  assert.equal(settled[0]?.status, 'fulfilled');
  assert.ok(settled[1]?.status === 'rejected' && code('MSB_CID_NOT_HELD')(settled[1].reason));
  assert.ok(settled[2]?.status === 'fulfilled' && settled[2].value.expiresAt - settled[2].value.acquiredAt >= 20_000);
  assert.ok(settled[3]?.status === 'rejected' && code('MSB_CID_NOT_HELD')(settled[3].reason));
  assert.ok(settled.slice(4).every((s) => s.status === 'fulfilled'));
  assert.deepEqual(
    (await shared.list('batched')).map((l) => l.id),
    [second.id],
  );
  await shared.release(second);
  assert.deepEqual(await shared.list('batched'), []);
});

test('uint64 IDs stay exact beyond 2^53 up to 2^64-1, then wrap to 1 (never 0)', async () => {
  // start the model's counter just below the top (key layout documented in src/cid/scripts.ts)
  await raw.hset('msb:cid:{big}:state', 'next', (MAX_UINT64 - 2n).toString());
  const a = await ids.acquire('big');
  const b = await ids.acquire('big', { kind: 'string' });
  const c = await ids.acquire('big');
  assert.equal(a.id, 18446744073709551614n);
  assert.equal(b.id, '18446744073709551615');
  assert.equal(c.id, 1n);
  assert.ok(a.id > BigInt(Number.MAX_SAFE_INTEGER));
  const listed = await ids.list('big');
  assert.deepEqual(
    listed.map((l) => l.id),
    [1n, MAX_UINT64 - 1n, MAX_UINT64],
  );
  await ids.renew(b);
  for (const l of [a, b, c]) await ids.release(l);
});

test('only the token holder renews or releases; a repeated release is answered like the first', async () => {
  const lease = await ids.acquire('tokens', { ttl: 5000 });
  await assert.rejects(ids.renew({ ...lease, token: 'not-the-token' }), code('MSB_CID_NOT_HELD'));
  await assert.rejects(ids.release({ ...lease, token: 'not-the-token' }), code('MSB_CID_NOT_HELD'));
  await assert.rejects(ids.release({ model: 'tokens', id: 99n, token: lease.token }), code('MSB_CID_NOT_HELD'));
  const renewed = await ids.renew(lease, { ttl: 20_000 });
  assert.equal(renewed.id, lease.id);
  assert.ok(renewed.expiresAt >= lease.acquiredAt + 20_000);
  const first = await ids.release(lease);
  assert.deepEqual(await ids.release(lease), first);
  await assert.rejects(ids.renew(lease), code('MSB_CID_NOT_HELD'));
});

test('a release is remembered for one generation of the release memory (60 s) to two, in two hashes, not a key each', async () => {
  // A generation's age is the state's `relgen`: moving it back stands in for 60 s passing (the rotation itself is
  // what is under test, and waiting a real minute twice would not test it better).
  const model = 'remembered';
  const state = `msb:cid:{${model}}:state`;
  const first = await ids.acquire(model);
  const released = await ids.release(first);
  const age = async () => raw.hset(state, 'relgen', '0');
  await age(); // the next release starts a new generation: first's moves to released-before
  await ids.release(await ids.acquire(model));
  assert.deepEqual(await ids.release(first), released);
  await age(); // and the one after drops it
  await ids.release(await ids.acquire(model));
  await assert.rejects(ids.release(first), code('MSB_CID_NOT_HELD'));
  // however many releases: the model's keys are its lease hash (gone when empty), ends, state and the two generations
  for (let i = 0; i < 50; i++) await ids.release(await ids.acquire(model));
  const keys = (await scanKeys(raw, `msb:cid:{${model}}*`)).sort();
  assert.deepEqual(keys, [`msb:cid:{${model}}:released`, `msb:cid:{${model}}:released-before`, state]);
});

test('a repeated release is answered OK even after the ID went to another holder', async () => {
  const one = new CorrelationIds(raw, { maxId: 1, reuseDelay: 0 });
  const first = await one.acquire('reissued');
  const { releasedAt } = await one.release(first);
  let second: Lease<'uint64'> | undefined;
  for (let i = 0; i < 100 && !second; i++) {
    second = await one.acquire('reissued').catch(async () => {
      await sleep(5); // the wraparound's guard: until the server clock passes the release
      return undefined;
    });
  }
  assert.equal(second?.id, first.id);
  assert.deepEqual(await one.release(first), { releasedAt });
  await assert.rejects(one.renew(first), code('MSB_CID_NOT_HELD'));
  await one.release(second as Lease<'uint64'>);
});

test('scripts are sent again when Redis has forgotten them (SCRIPT FLUSH, a restarted or promoted server)', async () => {
  const flush = async () => {
    for (const node of 'nodes' in raw ? raw.nodes('master') : [raw]) await node.script('FLUSH');
  };
  await flush();
  const lease = await ids.acquire('flushed');
  await flush();
  await ids.renew(lease);
  await flush();
  await ids.release(lease);
  await flush();
  assert.deepEqual(await ids.list('flushed'), []);
});

test('an expired lease can be neither renewed nor released, and is not listed', async () => {
  const lease = await ids.acquire('expiring', { ttl: 50 });
  await untilServerTime(lease.expiresAt);
  assert.deepEqual(await ids.list('expiring'), []);
  await assert.rejects(ids.renew(lease), code('MSB_CID_EXPIRED'));
  await assert.rejects(ids.release(lease), code('MSB_CID_EXPIRED'));
});

test('the per-model cap refuses acquire with MSB_CID_CAP_REACHED until a lease ends', async () => {
  const capped = new CorrelationIds(raw, { cap: 2 });
  const a = await capped.acquire('capped');
  // 1 s: long enough that it still counts on a loaded machine when the next acquires run (60 ms did not always)
  await capped.acquire('capped', { ttl: 1000 });
  await assert.rejects(
    capped.acquire('capped'),
    (err) => code('MSB_CID_CAP_REACHED')(err) && /cap 2/.test(String(err)),
  );
  await capped.acquire('other-capped');
  await capped.release(a);
  const c = await capped.acquire('capped');
  await assert.rejects(capped.acquire('capped'), code('MSB_CID_CAP_REACHED'));
  await sleep(1100); // the 1 s lease ran out: it no longer counts
  await capped.acquire('capped');
  const uncapped = await capped.acquire('capped', { cap: 0 });
  await capped.release(uncapped);
  await capped.release(c);
});

test('after a wraparound a released ID is quarantined for reuseDelay on the server clock', async () => {
  const small = new CorrelationIds(raw, { maxId: 2, reuseDelay: 300 });
  const a = await small.acquire('small');
  const b = await small.acquire('small');
  const { releasedAt } = await small.release(a);
  await assert.rejects(small.acquire('small'), code('MSB_CID_EXHAUSTED'));
  let again: Lease<'uint64'> | undefined;
  for (let i = 0; i < 100 && !again; i++) {
    again = await small.acquire('small').catch(async () => {
      await sleep(20);
      return undefined;
    });
  }
  assert.equal(again?.id, a.id);
  assert.ok((again?.acquiredAt ?? 0) >= releasedAt + 300, 'not handed out before the quarantine ended');
  await small.release(b);
});

test('bad input is refused with typed errors before Redis is touched', async () => {
  for (const model of ['', '.hidden', '..', 'a/b', 'a\\b', 'tab\there', 'del\u007f', 'é'.repeat(128)]) {
    await assert.rejects(ids.acquire(model), code('MSB_CID_MODEL_NAME'), JSON.stringify(model));
  }
  for (const ttl of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    await assert.rejects(ids.acquire('m', { ttl }), code('MSB_CID_TTL'), String(ttl));
  }
  await assert.rejects(ids.acquire('m', { kind: 'int64' as 'uint64' }), code('MSB_CID_KIND'));
  await assert.rejects(ids.acquire('m', { cap: -1 }), code('MSB_CID_OPTION'));
  await assert.rejects(ids.release({ model: 'm', id: '0', token: 't' }), code('MSB_CID_ID'));
  await assert.rejects(ids.release({ model: 'm', id: (MAX_UINT64 + 1n).toString(), token: 't' }), code('MSB_CID_ID'));
  for (const text of ['0', '-1', '01', '1.0', '', 'abc', '18446744073709551616']) {
    assert.throws(() => parseId(text), code('MSB_CID_ID'), text);
  }
  assert.equal(parseId('18446744073709551615'), MAX_UINT64);
  assert.throws(() => new CorrelationIds(raw, { maxId: 0 }), code('MSB_CID_OPTION'));
  assert.throws(() => new CorrelationIds(raw, { maxId: MAX_UINT64 + 1n }), code('MSB_CID_OPTION'));
  assert.throws(() => new CorrelationIds(raw, { ttl: 0 }), code('MSB_CID_TTL'));
  // a name Triton accepts is fine, including non-ASCII and dots inside
  const ok = await ids.acquire('résnet-50_v2.onnx');
  await ids.release(ok);
});

test('withSequence releases the ID when fn throws, and passes fn its error', async () => {
  let seen: bigint | undefined;
  await assert.rejects(
    ids.withSequence('seq-throw', async (id) => {
      seen = id;
      assert.deepEqual(
        (await ids.list('seq-throw')).map((l) => l.id),
        [id],
      );
      throw new Error('model failed');
    }),
    /model failed/,
  );
  assert.ok(seen !== undefined);
  assert.deepEqual(await ids.list('seq-throw'), []);
});

test('withSequence renews while a long fn runs, then releases', async () => {
  const result = await ids.withSequence(
    'seq-long',
    async (id, { signal, lease }) => {
      const first = lease.expiresAt;
      await sleep(1000); // more than three ttls
      assert.equal(signal.aborted, false);
      const [live] = await ids.list('seq-long');
      assert.equal(live?.id, id);
      assert.ok((live?.expiresAt ?? 0) > first + 500, 'the lease was renewed');
      return id;
    },
    { ttl: 300 },
  );
  assert.equal(typeof result, 'bigint');
  assert.deepEqual(await ids.list('seq-long'), []);
});

test('withSequence aborts fn and rejects when the lease is lost', async () => {
  // The server finds the lease expired at the next renewal because its expiry is moved into the past on the server
  // (the record's last field, in the server's milliseconds). Renewing later than the ttl made the same point but
  // raced the renewal's reply against the client's own lease deadline (a 0 ms timer by then): on a loaded machine
  // the timer won about one run in eight and the sequence ended MSB_CID_LEASE_LOST instead (faults.test.ts covers
  // that path). Here the local deadline is 10 s away and nothing races.
  let reason: unknown;
  await assert.rejects(
    ids.withSequence(
      'seq-lost',
      async (id, { signal }) => {
        const key = 'msb:cid:{seq-lost}:leases';
        const record = await raw.hget(key, String(id));
        assert.ok(record, 'the live lease is on the server');
        const [seconds, micros] = await raw.time();
        const past = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1;
        // A renewal between the read and this write leaves the same token: the record still ends expired.
        await raw.hset(key, String(id), record.replace(/\d+$/, String(past)));
        if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        reason = signal.reason;
        return 'finished anyway';
      },
      { ttl: 10_000, renewEvery: 100 },
    ),
    code('MSB_CID_EXPIRED'),
  );
  assert.ok(isMsbError(reason, 'MSB_CID_EXPIRED'));
});
