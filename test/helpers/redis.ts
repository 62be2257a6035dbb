import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForRedis } from '../../src/jobs/redis-server.js';

export { freePort };

export interface RedisOptions {
  /** Append-only file on (fsync every write), so a restart keeps every acknowledged write. */
  aof?: boolean;
}

/**
 * A real `redis-server` on a free loopback port with its own temp dir. Tests may `kill()` it (SIGKILL) and
 * `start()` it again on the same port and dir to exercise faults.
 */
export class TestRedis {
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
    const r = new TestRedis(await freePort(), dir, options.aof ?? false);
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

  async stop(): Promise<void> {
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
