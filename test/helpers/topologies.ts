/**
 * Real Redis topologies on loopback for the tests: a 3-primary Redis Cluster (`redis-server --cluster-enabled yes`
 * + `redis-cli --cluster create`) and a primary + replica watched by 3 Sentinels. Every process is a child of the
 * test; `stop()` ends them all and removes their directories.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitForRedis } from '../../src/jobs/redis-server.js';
import { freeServerPort } from './ports.js';
import type { TestTopology } from './redis.js';
import { until } from './until.js';

const run = promisify(execFile);

export class RedisProcess {
  private proc: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  /** `extra`: arguments after the ones given at construction (a restart as someone's replica). */
  async start(extra: string[] = []): Promise<void> {
    this.proc = spawn('redis-server', [...this.args, ...extra], { stdio: 'ignore' });
    await waitForRedis(this.port);
  }

  /** SIGKILL, like a crash. */
  kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(sig);
    });
  }

  /** SIGSTOP / SIGCONT: a node that stops answering (replication lag without losing the process). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }
  resume(): void {
    this.proc?.kill('SIGCONT');
  }
}

/**
 * A TCP relay between a replica and its primary, so a test can make replication lag for real: `hold()` keeps what
 * the primary sends in this process instead of passing it on (the replica's link stays up, it just hears nothing
 * new, like a congested network), `cut()` drops what was held and closes the link. On loopback a SIGSTOPped replica
 * would not do: the kernel buffers the primary's bytes for it and it applies them after SIGCONT, even from a
 * primary killed meanwhile.
 */
export class ReplicationLink {
  private held: Buffer[] | undefined;
  private readonly pairs = new Set<{ replica: net.Socket; primary: net.Socket }>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(primaryPort: number): Promise<ReplicationLink> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const link = new ReplicationLink(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (replica) => {
      const primary = net.connect(primaryPort, '127.0.0.1');
      const pair = { replica, primary };
      link.pairs.add(pair);
      const end = () => {
        link.pairs.delete(pair);
        replica.destroy();
        primary.destroy();
      };
      replica.on('data', (b) => primary.write(b));
      primary.on('data', (b) => {
        if (link.held) link.held.push(b);
        else replica.write(b);
      });
      for (const s of [replica, primary]) {
        s.on('error', end);
        s.on('close', end);
      }
    });
    return link;
  }

  /** Until `cut()`, nothing the primary sends reaches the replica. */
  hold(): void {
    this.held ??= [];
  }

  /** Drops what was held and closes every relayed connection; new ones are still relayed. */
  cut(): void {
    this.held = undefined;
    for (const { replica, primary } of this.pairs) {
      replica.destroy();
      primary.destroy();
    }
    this.pairs.clear();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export class TestCluster implements TestTopology {
  readonly name = 'cluster';
  private constructor(
    readonly dir: string,
    readonly nodes: RedisProcess[],
  ) {}

  /** `aof`: append-only file on every node (fsync every write), so {@link restart} keeps every acknowledged write. */
  static async start(options: { aof?: boolean } = {}): Promise<TestCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-cluster-'));
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeServerPort({ clusterBus: true });
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
      args.push('--appendonly', options.aof ? 'yes' : 'no');
      if (options.aof) {
        args.push('--appendfilename', `aof-${port}.aof`, '--appenddirname', `aof-${port}`, '--appendfsync', 'always');
      }
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`);
      args.push('--cluster-node-timeout', '2000');
      const node = new RedisProcess(port, args);
      await node.start();
      nodes.push(node);
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes']);
    const c = new TestCluster(dir, nodes);
    await c.waitForOk();
    return c;
  }

  /** Until every node agrees the cluster is up: only then does a client see a complete slot map. */
  async waitForOk(): Promise<void> {
    for (const n of this.nodes) {
      const ok = () =>
        run('redis-cli', ['-p', String(n.port), 'cluster', 'info']).then(
          (r) => /cluster_state:ok/.test(r.stdout),
          () => false,
        );
      await until(`cluster node ${n.port} to reach cluster_state:ok`, ok, 20_000);
    }
  }

  /** Every node SIGKILLed: the whole cluster unreachable, as after a crash. */
  async kill(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
  }

  /** Every node started again on its port, from its files (its slots from `nodes-<port>.conf`). */
  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    await this.waitForOk();
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill('SIGTERM')));
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class TestSentinel implements TestTopology {
  readonly name = 'sentinel';
  static readonly MASTER = 'msbmaster';
  private constructor(
    readonly dir: string,
    readonly primary: RedisProcess,
    readonly replica: RedisProcess,
    readonly sentinels: RedisProcess[],
    /** With `relayReplication`: the replica's link to the primary, which the test can hold and cut. */
    readonly link?: ReplicationLink,
  ) {}

  /**
   * Both data nodes with AOF, appendfsync always. `relayReplication`: the replica replicates through a
   * {@link ReplicationLink}, so a test can make it lag.
   */
  static async start(options: { relayReplication?: boolean } = {}): Promise<TestSentinel> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-sentinel-'));
    const data = (port: number, extra: string[] = []) =>
      new RedisProcess(port, [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--dbfilename',
        `dump-${port}.rdb`,
        '--appendonly',
        'yes',
        '--appendfilename',
        `aof-${port}.aof`,
        '--appenddirname',
        `aof-${port}`,
        '--appendfsync',
        'always',
        ...extra,
      ]);
    const primary = data(await freeServerPort());
    await primary.start();
    const link = options.relayReplication ? await ReplicationLink.start(primary.port) : undefined;
    const replica = data(await freeServerPort(), ['--replicaof', '127.0.0.1', String(link?.port ?? primary.port)]);
    await replica.start();
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeServerPort();
      const conf = path.join(dir, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${TestSentinel.MASTER} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${TestSentinel.MASTER} 1000`,
          // Sentinel re-points a replica that follows another address than the primary's (+fix-slave-config) once
          // it has been known for failover-timeout: keep that past the test when the replica goes through the relay
          `sentinel failover-timeout ${TestSentinel.MASTER} ${link ? 120_000 : 5000}`,
          `sentinel parallel-syncs ${TestSentinel.MASTER} 1`,
          '',
        ].join('\n'),
      );
      const s = new RedisProcess(port, [conf, '--sentinel']);
      await s.start();
      sentinels.push(s);
    }
    const t = new TestSentinel(dir, primary, replica, sentinels, link);
    await t.waitForReplication();
    return t;
  }

  get url(): string {
    return `redis+sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${TestSentinel.MASTER}`;
  }

  /** The port Sentinel currently names as primary. */
  async primaryPort(): Promise<number> {
    const { stdout } = await run('redis-cli', [
      '-p',
      String(this.sentinels[0]?.port),
      'sentinel',
      'get-master-addr-by-name',
      TestSentinel.MASTER,
    ]);
    return Number(stdout.trim().split('\n')[1]);
  }

  /** Until the replica is in sync with the primary and Sentinel knows the replica. */
  async waitForReplication(): Promise<void> {
    // a full resync after both nodes restarted, with clients hammering the primary on a loaded 2-core machine
    const deadline = Date.now() + 60_000;
    for (;;) {
      const info = await run('redis-cli', ['-p', String(this.replica.port), 'info', 'replication']).then(
        (r) => r.stdout,
        () => '',
      );
      const known = await run('redis-cli', [
        '-p',
        String(this.sentinels[0]?.port),
        'sentinel',
        'replicas',
        TestSentinel.MASTER,
      ]).then(
        (r) => r.stdout,
        () => '',
      );
      if (/master_link_status:up/.test(info) && known.includes(String(this.replica.port))) return;
      if (Date.now() > deadline) {
        const primary = await run('redis-cli', ['-p', String(this.primary.port), 'info', 'replication']).then(
          (r) => r.stdout,
          (e: Error) => e.message,
        );
        const pick = (text: string) =>
          text
            .split('\n')
            .filter((l) => /^(role|master_|slave|connected_slaves|master_link)/.test(l))
            .join(' ')
            .replace(/\r/g, '');
        throw new Error(
          `replica never in sync: replica ${this.replica.port}: ${pick(info)}; primary ${this.primary.port}: ${pick(primary)}; sentinel knows: ${known.includes(String(this.replica.port))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Both data nodes SIGKILLed (the Sentinels stay): no primary to fail over to, Redis unreachable until
   * {@link start}.
   */
  async kill(): Promise<void> {
    await Promise.all([this.primary.kill(), this.replica.kill()]);
  }

  /** The primary, then the replica, started again from their AOF files; until the replica is in sync. */
  async start(): Promise<void> {
    await this.primary.start();
    await this.replica.start();
    await this.waitForReplication();
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * Kills the primary (SIGKILL) and waits until Sentinel promoted the replica. Writes a held relay kept from the
   * replica are lost with the primary, as they would be in a real failover under replication lag.
   */
  async failover(): Promise<void> {
    await this.primary.kill();
    this.link?.cut();
    await until(
      'Sentinel to promote the replica',
      async () => (await this.primaryPort()) === this.replica.port,
      30_000,
    );
  }

  /**
   * After {@link failover}: starts the old primary again as a replica of the promoted one (what Sentinel itself does
   * to a returning primary, after a wait of several seconds) and waits until it is in sync.
   */
  async rejoinOldPrimary(): Promise<void> {
    await this.primary.start(['--replicaof', '127.0.0.1', String(this.replica.port)]);
    const synced = async () =>
      /master_link_status:up/.test(
        (await run('redis-cli', ['-p', String(this.primary.port), 'info', 'replication'])).stdout,
      );
    await until('the old primary to sync with the promoted replica', synced, 30_000);
  }

  async stop(): Promise<void> {
    this.replica.resume();
    await this.link?.close();
    // One at a time, Sentinels first: stopped all at once, the replica sometimes outlived the test by a minute or
    // more (seen with Redis 7.0), holding the test file open.
    for (const n of [...this.sentinels, this.replica, this.primary]) await n.kill('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}
