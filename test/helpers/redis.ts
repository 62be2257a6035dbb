import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

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
    await waitForPort(this.port, 10_000);
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

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.write('PING\r\n');
        sock.once('data', (d) => {
          sock.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
