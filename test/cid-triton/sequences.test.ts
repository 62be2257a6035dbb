/**
 * Correlation IDs on a real Triton (issue 22): the manager model msb publishes hands out IDs from msb serve's lease
 * service, and 50 client processes (tritonclient) run real sequences through the sequence batcher with them. A
 * client checks every answer of the accumulator against its own running sum, so two live sequences sharing an ID
 * would show up as wrong sums. Also: a client killed mid-sequence, msb serve and Redis going away under the
 * manager, and the same 50-client run with IDs from `msb cid acquire` and `POST /v1/sequences`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src/api/server.js';
import { addToken } from '../../src/api/tokens.js';
import { addManagerModel, CorrelationIds } from '../../src/cid/index.js';
import { ModelStore } from '../../src/store/index.js';
import { repoRoot } from '../helpers/paths.js';
import { freeServerPort } from '../helpers/ports.js';
import { TestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { addSequenceModel, type SequenceClient, startClient } from './fixture.js';

const skip = skipWithoutTriton();

/**
 * The `msb` the clients run, 100 times at once: the build in dist/ when it is newer than every source file (CI
 * builds it in `npm ci`), which starts in about half the CPU time of tsx compiling src/; else src/ through tsx.
 */
function msbCommand(): string[] {
  const built = path.join(repoRoot, 'dist', 'cli', 'main.js');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs,
      ),
    );
  if (existsSync(built) && statSync(built).mtimeMs >= newest(path.join(repoRoot, 'src'))) {
    return [process.execPath, built];
  }
  return [process.execPath, '--import', import.meta.resolve('tsx'), path.join(repoRoot, 'src', 'cli', 'main.ts')];
}
const CLIENTS = 50;
/** The lease service's ID range in these tests: small, so a freed ID comes round again within a test. */
const MAX_ID = 64;
const REUSE_DELAY = 1000;
/** Long enough for 50 clients on 2 loaded cores; every client releases its lease at the end. */
const TTL = 600_000;
const dir = await tempDir('msb-cid-triton-');

describe('correlation IDs on a real Triton', { skip, timeout: 600_000 }, () => {
  let redis: TestRedis;
  let triton: TritonServer;
  let api: FastifyInstance | undefined;
  let apiPort: number;
  let apiToken: string;
  let ids: CorrelationIds;
  const timings: string[] = [];

  const startApi = async () => {
    api = await createApiServer({
      redis: redis.url,
      store: path.join(dir, 'store'),
      artifacts: path.join(dir, 'artifacts'),
      tokens: path.join(dir, 'tokens.json'),
      cid: { maxId: MAX_ID, reuseDelay: REUSE_DELAY },
    });
    await api.listen({ host: '127.0.0.1', port: apiPort });
  };

  before(async () => {
    redis = await TestRedis.start({ aof: true });
    apiToken = await addToken(path.join(dir, 'tokens.json'), 'triton', ['enqueue']);
    apiPort = await freeServerPort();
    await mkdir(path.join(dir, 'artifacts'));
    const store = await ModelStore.open(path.join(dir, 'store'), { create: true });
    await addSequenceModel(store, 'seq_direct', 'direct', 'uint64');
    // TYPE_STRING IDs on a model without a CORRID control: Triton 2.51 cannot serve a TYPE_STRING one (fixture.ts)
    await addSequenceModel(store, 'seq_string', 'direct', 'any');
    await addSequenceModel(store, 'seq_oldest', 'oldest', 'uint64');
    await addSequenceModel(store, 'seq_http', 'oldest', 'uint64');
    await addSequenceModel(store, 'seq_kill', 'direct', 'uint64');
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await addManagerModel({
      store,
      name: 'cidmgr',
      apiUrl,
      targets: ['seq_direct', 'seq_kill'],
      timeoutMs: 2000,
      instances: 4,
    });
    await addManagerModel({ store, name: 'cidmgr_str', apiUrl, kind: 'string', targets: ['seq_string'], instances: 4 });
    await startApi();
    const started = performance.now();
    triton = await TritonServer.start({ repository: path.join(dir, 'store'), env: { MSB_CID_TOKEN: apiToken } });
    timings.push(`triton ready in ${Math.round(performance.now() - started)} ms`);
    ids = new CorrelationIds(redis.url);
  });

  after(async () => {
    console.log(`# ${timings.join('; ')}`);
    await ids?.close();
    await triton?.close();
    await api?.close();
    await redis?.stop();
  });

  /** One KServe v2 JSON request to the manager model; the parsed answer, or the error text with its status. */
  async function manager(
    inputs: Record<string, string | number>,
    model = 'cidmgr',
  ): Promise<{ status: number; outputs?: Record<string, string | number>; error?: string }> {
    const types: Record<string, string> = { CORRID: 'UINT64', TTL_MS: 'INT64' };
    const body = {
      inputs: Object.entries(inputs).map(([name, value]) => ({
        name,
        datatype: typeof value === 'number' ? (types[name] ?? 'INT64') : 'BYTES',
        shape: [1],
        data: [value],
      })),
    };
    const r = await fetch(`${triton.url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body) });
    const json = (await r.json()) as { error?: string; outputs?: { name: string; data: (string | number)[] }[] };
    if (!r.ok) return { status: r.status, error: json.error ?? '' };
    return {
      status: r.status,
      outputs: Object.fromEntries((json.outputs ?? []).map((o) => [o.name, o.data[0] as string | number])),
    };
  }

  /** One request of a sequence, as plain KServe v2 JSON; the running sum it answers. */
  async function sequenceStep(model: string, id: number, value: number, start: boolean, end: boolean) {
    const body = {
      parameters: { sequence_id: id, sequence_start: start, sequence_end: end },
      inputs: [{ name: 'INPUT', datatype: 'INT32', shape: [1, 1], data: [value] }],
    };
    const r = await fetch(`${triton.url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body) });
    const json = (await r.json()) as { error?: string; outputs?: { data: number[] }[] };
    assert.equal(r.status, 200, json.error);
    return json.outputs?.[0]?.data[0] ?? Number.NaN;
  }

  /** 50 clients at once, all holding their ID before any sequence starts; every sum checked; nothing left. */
  async function fiftyClients(model: string, source: Record<string, unknown>, kind: 'uint64' | 'string') {
    const started = performance.now();
    const clients: SequenceClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      clients.push(
        startClient({ triton: `127.0.0.1:${triton.httpPort}`, model, kind, seed: i, steps: 8, ttl: TTL, ...source }),
      );
    }
    try {
      const acquired = await Promise.all(clients.map((c) => c.next('acquired')));
      const held = acquired.map((e) => e.id);
      assert.equal(new Set(held).size, CLIENTS, `50 distinct IDs: ${held.join(' ')}`);
      const live = (await ids.list(model)).map((l) => String(l.id));
      assert.deepEqual(live.sort(), [...held].sort(), 'the 50 IDs are live leases together');
      if (kind === 'string') assert.ok(held.every((id) => /^[1-9]\d*$/.test(id)));
      for (const c of clients) c.go();
      const codes = await Promise.all(clients.map((c) => c.exited));
      for (const [i, c] of clients.entries()) assert.equal(codes[i], 0, `client ${i}: ${c.stderr()}`);
      const done = clients.map((c) => c.events.find((e) => e.event === 'done'));
      const wrong = done.reduce((n, e) => n + (e?.wrong ?? 1), 0);
      assert.equal(wrong, 0, 'wrong sums');
      assert.equal(done.length, CLIENTS);
      assert.deepEqual(await ids.list(model), [], 'no lease left');
      timings.push(
        `${model} (${source.source}${Array.isArray(source.msb) ? (source.msb.length === 2 ? ', dist' : ', tsx') : ''}): ${CLIENTS} clients × 8 steps in ${Math.round(performance.now() - started)} ms`,
      );
    } finally {
      for (const c of clients) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    }
  }

  test('50 clients get uint64 IDs from the manager model and run 8-step sequences (direct strategy)', async () => {
    await fiftyClients('seq_direct', { source: 'manager', manager: 'cidmgr' }, 'uint64');
  });

  test('50 clients get TYPE_STRING IDs from a string manager', async () => {
    await fiftyClients('seq_string', { source: 'manager', manager: 'cidmgr_str' }, 'string');
  });

  test('50 clients with IDs from `msb cid acquire` (oldest strategy)', async () => {
    const msb = msbCommand();
    await fiftyClients('seq_oldest', { source: 'cli', msb, redis: redis.url }, 'uint64');
  });

  test('50 clients with IDs from POST /v1/sequences', async () => {
    await fiftyClients('seq_http', { source: 'http', api: `http://127.0.0.1:${apiPort}`, token: apiToken }, 'uint64');
  });

  test('a client killed mid-sequence: its ID is not handed out again before its TTL, and is after', async () => {
    // long enough to hand out the other 63 IDs one by one on a loaded machine before it runs out
    const ttl = 15_000;
    const victim = startClient({
      triton: `127.0.0.1:${triton.httpPort}`,
      model: 'seq_kill',
      kind: 'uint64',
      source: 'manager',
      manager: 'cidmgr',
      ttl,
      stop_after: 3,
    });
    const { id } = await victim.next('acquired');
    victim.go();
    await victim.next('mid');
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const [lease] = await ids.list('seq_kill');
    assert.equal(String(lease?.id), id, 'the killed client still holds its lease');
    // Every other ID of the range is handed out; the victim's is not: the manager answers that none is free.
    const held: { id: string; token: string }[] = [];
    let refused: { status: number; error?: string } | undefined;
    for (let i = 0; i < MAX_ID && !refused; i++) {
      const r = await manager({ MODEL: 'seq_kill', TTL_MS: 60_000 });
      if (r.outputs) held.push({ id: String(r.outputs.CORRID), token: String(r.outputs.TOKEN) });
      else refused = r;
    }
    const refusedAt = Date.now();
    assert.ok(
      refusedAt < (lease?.expiresAt ?? 0),
      'the range was used up within the TTL (a slower machine cannot decide this)',
    );
    assert.equal(held.length, MAX_ID - 1);
    assert.ok(!held.some((h) => h.id === id), `ID ${id} was not handed out again`);
    assert.equal(refused?.status, 503);
    assert.match(refused?.error ?? '', /^msb: MSB_CID_EXHAUSTED: /);
    // After its TTL and the quarantine, the next acquire gets it.
    await sleep(Math.max(0, (lease?.expiresAt ?? 0) + REUSE_DELAY - Date.now()) + 200);
    const again = await manager({ MODEL: 'seq_kill' });
    assert.equal(String(again.outputs?.CORRID), id);
    // A new sequence on it starts from a clean sum although the killed one never sent END.
    const sums: number[] = [];
    for (let step = 0; step < 4; step++)
      sums.push(await sequenceStep('seq_kill', Number(id), 10, step === 0, step === 3));
    assert.deepEqual(sums, [10, 20, 30, 40]);
    for (const h of held) await manager({ ACTION: 'release', MODEL: 'seq_kill', CORRID: Number(h.id), TOKEN: h.token });
    await manager({ ACTION: 'release', MODEL: 'seq_kill', CORRID: Number(id), TOKEN: String(again.outputs?.TOKEN) });
  });

  test('the manager answers a clear error while msb serve or Redis is away, and recovers without a Triton restart', async () => {
    const ok = await manager({ MODEL: 'seq_direct' });
    assert.equal(ok.status, 200);
    await api?.close();
    api = undefined;
    const down = await manager({ MODEL: 'seq_direct' });
    assert.equal(down.status, 503);
    assert.match(
      down.error ?? '',
      /^msb: MSB_CID_API_UNREACHABLE: cannot reach msb serve at http:\/\/127\.0\.0\.1:\d+: /,
    );
    await startApi();
    const back = await manager({ MODEL: 'seq_direct' });
    assert.equal(back.status, 200, back.error);

    await redis.kill();
    const noRedis = await manager({ MODEL: 'seq_direct' });
    assert.equal(noRedis.status, 503);
    // msb serve itself answers 503 naming Redis at once (docs/serve.md "While Redis is down"); the manager passes
    // its code and message on.
    assert.match(noRedis.error ?? '', /^msb: MSB_REDIS_UNREACHABLE: msb serve answered 503: cannot reach Redis at /);
    await redis.start();
    // msb serve answers 503 until its Redis connection is back (it reconnects every 2 s at most): a client retries.
    let after = await manager({ MODEL: 'seq_direct' });
    for (const deadline = Date.now() + 20_000; after.status === 503 && Date.now() < deadline; ) {
      await sleep(250);
      after = await manager({ MODEL: 'seq_direct' });
    }
    assert.equal(after.status, 200, after.error);
    assert.notEqual(after.outputs?.CORRID, back.outputs?.CORRID, 'AOF kept the live lease: a new ID');
    timings.push(`outages: ${down.error}; ${noRedis.error}`);
  });
});
