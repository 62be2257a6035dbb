/**
 * `/healthz`, `/readyz` and `/metrics`: public, like the workers' ops endpoint. Request durations by route, and the
 * workers' queue gauges for every queue a job was ever routed to, so that a pool scaled to zero still exports its
 * backlog (KEDA scales on it).
 */
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Histogram } from 'prom-client';
import { knownQueues, registerQueueMetrics } from '../../jobs/index.js';
import { Registry } from '../../server/index.js';
import { ModelStore } from '../../store/index.js';
import type { RouteOptions } from '../context.js';

/** How long `/readyz` waits for each check before it reports it failed. */
const READY_CHECK_MS = 2000;

function bounded<T>(what: Promise<T>, ms: number, late: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    what,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(late)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const metricsPlugin: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  const { client, storeRoot } = ctx;
  const registry = new Registry();
  const durations = new Histogram({
    name: 'msb_http_request_duration_seconds',
    help: 'HTTP request durations of msb serve, by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  const queueMetrics = registerQueueMetrics(registry, client.redis, () => knownQueues(client.redis));
  app.addHook('onClose', () => queueMetrics.close());
  app.addHook('onResponse', async (req, reply) => {
    durations.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const hidden = { schema: { hide: true } };
  app.get('/healthz', hidden, async () => ({ ok: true }));
  app.get('/readyz', hidden, async (_req, reply) => {
    const checks: Record<string, string> = {};
    // While Redis is down a command would wait for it to come back: say so at once instead.
    await (client.redis.ready
      ? bounded(client.ping(), READY_CHECK_MS, `no answer in ${READY_CHECK_MS} ms`)
      : Promise.reject(client.redis.unreachable())
    ).then(
      () => (checks.redis = 'ok'),
      (e: Error) => (checks.redis = e.message),
    );
    await bounded(
      ModelStore.open(storeRoot, { readOnly: true }).then((s) => s.listModels()),
      READY_CHECK_MS,
      `no answer in ${READY_CHECK_MS} ms`,
    ).then(
      () => (checks.store = 'ok'),
      (e: Error) => (checks.store = e.message),
    );
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ ok, ...checks });
  });
  app.get('/metrics', hidden, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
};

/** Not encapsulated (fastify-plugin): its onResponse hook times every route of the server, registered after it. */
export const metricsRoutes = fp(metricsPlugin, { name: 'msb-metrics', fastify: '5.x' });
