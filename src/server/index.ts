/**
 * The operations endpoint of long-running msb processes (workers): `GET /healthz` (200 when healthy, 503 with the
 * reason otherwise) and `GET /metrics` (Prometheus text format, from prom-client).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export interface OpsServerOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Address to listen on. Default: 127.0.0.1 (put a proxy in front to expose it). */
  host?: string;
  health: () => Promise<Health> | Health;
  registry: Registry;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        if (req.method === 'GET' && req.url === '/healthz') {
          const health = await options.health();
          res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(health));
        } else if (req.method === 'GET' && req.url === '/metrics') {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(await options.registry.metrics());
        } else {
          res.writeHead(404).end();
        }
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    // idle keep-alive connections (a prober, Prometheus) would otherwise hold close() open
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * `msb_queue_jobs{queue,state}`: jobs per queue and state, read from Redis at each scrape. The one queue gauge of
 * every msb process that exports one (workers for the queues they serve, `msb serve` for every queue).
 */
export function registerQueueGauge(
  registry: Registry,
  read: () => Promise<Iterable<{ name: string; counts: Record<string, number> }>>,
): Gauge {
  return new Gauge({
    name: 'msb_queue_jobs',
    help: 'Jobs in msb queues, by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const q of await read())
        for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.name, state }, n);
    },
  });
}

export { Registry };
