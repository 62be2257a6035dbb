/**
 * Correlation IDs three ways, side by side in one run (issue 22): acquire+release pairs per second
 *   - through the manager model in a real Triton (two KServe v2 JSON inferences per pair, the model calling msb
 *     serve's API),
 *   - through msb serve's HTTP API directly (POST /v1/sequences + DELETE, bearer token),
 *   - from direct leases (the CorrelationIds library on Redis): the baseline the ratios are against.
 * Same Redis (AOF always, as in production), same API server, same concurrency for each; rounds alternate the three
 * and each keeps its best (the machine is shared).
 * Usage: npm run bench:cid-triton [-- --seconds N] [--rounds N] [--clients N] [--instances N] [--smoke]
 * Needs the real Triton of .venv/triton (.ci/python-deps triton); without it, says so and exits 0 (1 with
 * MSB_REQUIRE_TRITON=1).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../src/api/server.js';
import { addToken } from '../src/api/tokens.js';
import { addManagerModel, CorrelationIds } from '../src/cid/index.js';
import { freeServerPort } from '../test/helpers/ports.js';
import { TestRedis } from '../test/helpers/redis.js';
import { skipWithoutTriton, TritonServer } from '../test/helpers/triton.js';

const arg = (name: string) => process.argv.indexOf(name);
const smoke = arg('--smoke') >= 0;
const num = (name: string, dflt: number) => Number(process.argv[arg(name) + 1]) || dflt;
const seconds = smoke ? 0.5 : num('--seconds', 3);
const rounds = smoke ? 1 : num('--rounds', 3);
const clients = smoke ? 4 : num('--clients', 16);
const instances = num('--instances', 4);

let skip: string | false;
try {
  skip = skipWithoutTriton();
} catch (err) {
  console.error(`bench:cid-triton: ${(err as Error).message}`);
  process.exit(1);
}
if (skip) {
  console.log(`bench:cid-triton skipped: ${skip}`);
  process.exit(0);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-bench-cid-triton-'));
const remove = () => rm(dir, { recursive: true, force: true });
const redis = await TestRedis.start({ aof: true });
const closers: (() => Promise<unknown>)[] = [() => redis.stop(), remove];
try {
  const token = await addToken(path.join(dir, 'tokens.json'), 'bench', ['enqueue']);
  await mkdir(path.join(dir, 'artifacts'));
  const apiPort = await freeServerPort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await addManagerModel({ store: path.join(dir, 'store'), name: 'cidmgr', apiUrl, instances });
  const api = await createApiServer({
    redis: redis.url,
    store: path.join(dir, 'store'),
    artifacts: path.join(dir, 'artifacts'),
    tokens: path.join(dir, 'tokens.json'),
  });
  await api.listen({ host: '127.0.0.1', port: apiPort });
  closers.unshift(() => api.close());
  const triton = await TritonServer.start({ repository: path.join(dir, 'store'), env: { MSB_CID_TOKEN: token } });
  closers.unshift(() => triton.close());
  const ids = new CorrelationIds(redis.url);
  closers.unshift(() => ids.close());

  const post = async (url: string, body: unknown, method = 'POST') => {
    const r = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as Record<string, unknown>;
    if (!r.ok) throw new Error(`${url}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const text = (name: string, value: string) => ({ name, datatype: 'BYTES', shape: [1], data: [value] });
  const infer = `${triton.url}/v2/models/cidmgr/infer`;
  const ways: Record<string, (model: string) => Promise<unknown>> = {
    'direct leases (CorrelationIds on Redis)': async (model) => ids.release(await ids.acquire(model)),
    'msb serve HTTP API (POST + DELETE /v1/sequences)': async (model) => {
      const lease = (await post(`${apiUrl}/v1/sequences/${model}`, {})) as { id: string; token: string };
      await post(`${apiUrl}/v1/sequences/${model}/${lease.id}`, { token: lease.token }, 'DELETE');
    },
    'Triton manager model (2 inferences)': async (model) => {
      const r = (await post(infer, { inputs: [text('MODEL', model)] })) as {
        outputs: { name: string; data: (string | number)[] }[];
      };
      const out = Object.fromEntries(r.outputs.map((o) => [o.name, o.data[0]]));
      await post(infer, {
        inputs: [
          text('ACTION', 'release'),
          text('MODEL', model),
          { name: 'CORRID', datatype: 'UINT64', shape: [1], data: [out.CORRID] },
          text('TOKEN', String(out.TOKEN)),
        ],
      });
    },
  };
  /** Pairs per second with `clients` loops running `op` for `ms`. */
  const rate = async (ms: number, op: (model: string) => Promise<unknown>) => {
    let done = 0;
    const start = performance.now();
    const deadline = start + ms;
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        while (performance.now() < deadline) {
          await op(`bench-${i % 4}`);
          done++;
        }
      }),
    );
    return done / ((performance.now() - start) / 1000);
  };
  for (const op of Object.values(ways)) await rate(300, op); // warm-up: connections, script cache, JIT
  const best: Record<string, number> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of Object.entries(ways))
      best[name] = Math.max(best[name] ?? 0, await rate(seconds * 1000, op));
  }
  const base = best['direct leases (CorrelationIds on Redis)'] ?? 1;
  console.log(
    `${smoke ? 'smoke: ' : ''}${clients} concurrent clients, manager instances ${instances}, best of ${rounds} × ${seconds} s, Redis AOF always`,
  );
  for (const [name, r] of Object.entries(best)) {
    console.log(`${name.padEnd(52)} ${r.toFixed(0).padStart(8)} pairs/s  ratio ${(r / base).toFixed(3)}`);
  }
  for (const [name, r] of Object.entries(best)) if (!(r > 0)) throw new Error(`${name}: no pair completed`);
} finally {
  for (const close of closers) await close().catch((err: unknown) => console.error(err));
}
