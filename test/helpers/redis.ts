import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'ioredis';
import { freePort, waitForRedis } from '../../src/jobs/redis-server.js';
import { openRedis, type RedisConnection, type RedisLink } from '../../src/redis/index.js';
import { freeServerPort } from './ports.js';
import { TestCluster, TestSentinel } from './topologies.js';

export { freePort };

/** The Redis topologies the job and correlation-ID suites run on (`MSB_TEST_REDIS`, docs/deploy.md). */
export type TopologyName = 'single' | 'cluster' | 'sentinel';

export interface RedisOptions {
  /** Append-only file on (fsync every write), so a restart keeps every acknowledged write. */
  aof?: boolean;
}

/**
 * A real `redis-server` on a free loopback port with its own temp dir. Tests may `kill()` it (SIGKILL) and
 * `start()` it again on the same port and dir to exercise faults.
 */
export class TestRedis implements TestTopology {
  readonly name = 'single';
  readonly port: number;
  readonly dir: string;
  private readonly aof: boolean;
  private proc: ChildProcess | undefined;

  private constructor(port: number, dir: string, aof: boolean) {
    this.port = port;
    this.dir = dir;
    this.aof = aof;
  }

  static async start(options: RedisOptions = {}): Promise<TestRedis> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-redis-'));
    const r = new TestRedis(await freeServerPort(), dir, options.aof ?? false);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push('--appendonly', this.aof ? 'yes' : 'no');
    if (this.aof) args.push('--appendfsync', 'always');
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    await waitForRedis(this.port);
  }

  /** SIGKILL: no shutdown save, like a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGSTOP: the server keeps its connections but answers nothing (a hung host); {@link resume} continues it. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.signal('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(sig);
    });
  }
}

/**
 * A Redis a test starts and may crash: one server, a 3-primary cluster, or a primary + replica + 3 Sentinels.
 * `kill()` crashes every data node at once (SIGKILL: Redis unreachable); `start()` starts them again on the same
 * ports from their files; `restart()` is both. With `aof`, a restart keeps every acknowledged write on every topology
 * (the Sentinel pair always runs with AOF).
 */
export interface TestTopology {
  readonly name: TopologyName;
  readonly url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `MSB_TEST_REDIS`: the topology the job and correlation-ID suites start (default `single`). */
export function testTopology(): TopologyName {
  const name = process.env.MSB_TEST_REDIS || 'single';
  if (name !== 'single' && name !== 'cluster' && name !== 'sentinel') {
    throw new Error(`MSB_TEST_REDIS=${name}: single, cluster or sentinel is needed`);
  }
  return name;
}

/**
 * The Redis the job and correlation-ID suites run against: the topology `MSB_TEST_REDIS` names, so the same suites run
 * unchanged on each (`npm run test:topologies`). Suites that need one plain server (outages of `msb serve`, the
 * API) start {@link TestRedis} directly.
 */
export async function startTestRedis(options: RedisOptions = {}): Promise<TestTopology> {
  const name = testTopology();
  if (name === 'single') return TestRedis.start(options);
  if (name === 'cluster') return TestCluster.start(options);
  return TestSentinel.start();
}

/**
 * An admin connection for tests, through msb's own factory so it works on every topology (a plain `new Redis(url)`
 * understands neither `redis+cluster://` nor `redis+sentinel://`). Resolves once Redis answers.
 */
export async function adminRedis(url: string): Promise<RedisLink> {
  const link = openRedis(url, { name: 'msb-test-admin', log: () => undefined });
  await link.connected(30_000);
  return link;
}

/** FLUSHALL on every primary (a cluster's FLUSHALL only empties the node it reaches). */
export async function flushAll(connection: RedisConnection): Promise<void> {
  const nodes = connection instanceof Cluster ? connection.nodes('master') : [connection];
  await Promise.all(nodes.map((n) => n.flushall()));
}
