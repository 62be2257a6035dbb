/**
 * One msb serve for a test file (call it in `before`, and `close()` in `after`): a real redis-server, a real worker (the builder double for builds, the real import
 * path for imports), a store and an artifact directory in a temp dir, and a tokens file with one token per scope.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { addToken, type RunningApiServer, startApiServer } from '../../src/api/index.js';
import { ConversionWorker } from '../../src/jobs/index.js';
import { ModelStore } from '../../src/store/index.js';
import { TestRedis } from '../helpers/redis.js';
import { FakeBuilder } from '../jobs/fake-builder.js';

export interface Harness {
  redis: TestRedis;
  dir: string;
  store: string;
  artifacts: string;
  sourceRoot: string;
  tokensFile: string;
  tokens: { read: string; enqueue: string; admin: string; readEnqueue: string };
  server: RunningApiServer;
  worker: ConversionWorker;
  /** Stops servers, worker and Redis; removes the temp dir. Call from the test file's `after`. */
  close(): Promise<void>;
  /** Another server on the same Redis and storage (a second replica). */
  replica(): Promise<RunningApiServer>;
  /** fetch against the server with a token (or none). */
  call(route: string, init?: RequestInit & { token?: string | undefined }, base?: string): Promise<Response>;
}

export async function startHarness(
  options: {
    builderSteps?: number;
    idleTimeoutMs?: number;
    maxArtifactBytes?: number;
    redisTimeoutMs?: number;
    /** An artifact store URI instead of a directory in the temp dir. */
    artifacts?: string;
  } = {},
): Promise<Harness> {
  const redis = await TestRedis.start();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-api-'));
  const store = path.join(dir, 'store');
  const artifacts = options.artifacts ?? path.join(dir, 'artifacts');
  const sourceRoot = path.join(dir, 'sources');
  await mkdir(sourceRoot);
  await ModelStore.open(store, { create: true });
  const tokensFile = path.join(dir, 'tokens.json');
  const tokens = {
    read: await addToken(tokensFile, 'reader', ['read']),
    enqueue: await addToken(tokensFile, 'enqueuer', ['enqueue']),
    admin: await addToken(tokensFile, 'operator', ['admin']),
    readEnqueue: await addToken(tokensFile, 'service', ['read', 'enqueue']),
  };
  const worker = await ConversionWorker.start({
    redis: redis.url,
    store,
    builder: new FakeBuilder({ steps: options.builderSteps ?? 4 }),
    graceMs: 1000,
    heartbeatMs: 500,
  });
  const serverOptions = {
    redis: redis.url,
    store,
    artifacts,
    tokens: tokensFile,
    sourceRoots: [sourceRoot],
    port: 0,
    keepAliveMs: 500,
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.maxArtifactBytes ? { maxArtifactBytes: options.maxArtifactBytes } : {}),
    ...(options.redisTimeoutMs ? { redisTimeoutMs: options.redisTimeoutMs } : {}),
  };
  const server = await startApiServer(serverOptions);
  const replicas: RunningApiServer[] = [];

  return {
    redis,
    dir,
    store,
    artifacts,
    sourceRoot,
    tokensFile,
    tokens,
    server,
    worker,
    async close() {
      for (const r of replicas) await r.close();
      await server.close();
      await worker.close();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
    async replica() {
      const r = await startApiServer(serverOptions);
      replicas.push(r);
      return r;
    },
    call(route, init = {}, base = server.url) {
      const { token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return fetch(`${base}${route}`, { ...rest, headers });
    },
  };
}
