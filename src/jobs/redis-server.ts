/**
 * A private redis-server for the demo (and the test harness): a free loopback port, data in a given directory,
 * ready once it answers PING.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { RedisError } from '../redis/index.js';

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until a Redis on `port` answers PING with PONG (not LOADING, while it replays its AOF). */
export async function waitForRedis(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new RedisError('MSB_REDIS_START', `redis-server did not answer on port ${port}`, { port });
}

/** Starts a private redis-server on a free loopback port, data in `dir`, nothing persisted. */
export async function startRedis(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const failed = new Promise<never>((_, reject) =>
    proc.once('error', (err) =>
      reject(
        new RedisError(
          'MSB_REDIS_START',
          `cannot start redis-server (${err.message}); install it (apt-get install redis-server) or set REDIS_URL`,
        ),
      ),
    ),
  );
  await Promise.race([waitForRedis(port), failed]);
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
