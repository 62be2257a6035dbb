/** `/v1/sequences`: correlation-ID leases for Triton's sequence batcher, over the cid module. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseId } from '../../cid/index.js';
import type { RouteOptions } from '../context.js';

const MODEL = z.string().min(1).max(1024);
const CID = z.string().regex(/^[1-9]\d{0,19}$/, 'a correlation ID: a decimal integer in 1..2^64-1');
const TTL = z
  .number()
  .int()
  .min(1)
  .max(24 * 3600_000);

const leaseOut = (l: {
  model: string;
  kind: string;
  id: bigint | string;
  token: string;
  ttl: number;
  acquiredAt: number;
  expiresAt: number;
}) => ({
  model: l.model,
  kind: l.kind,
  id: String(l.id),
  token: l.token,
  ttl: l.ttl,
  acquiredAt: l.acquiredAt,
  expiresAt: l.expiresAt,
});

export const sequenceRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { ids } = ctx;
  const config = { scope: 'enqueue', redis: true } as const;
  app.post(
    '/v1/sequences/:model',
    {
      config,
      schema: {
        summary: 'Acquire a correlation ID for a sequence model',
        tags: ['sequences'],
        params: z.strictObject({ model: MODEL }),
        body: z.strictObject({ kind: z.enum(['uint64', 'string']).optional(), ttlMs: TTL.optional() }).nullish(),
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const lease = await ids.acquire(req.params.model, {
        ...(body.kind ? { kind: body.kind } : {}),
        ...(body.ttlMs ? { ttl: body.ttlMs } : {}),
      });
      return reply.code(201).send(leaseOut(lease));
    },
  );
  const seqParams = z.strictObject({ model: MODEL, id: CID });
  app.post(
    '/v1/sequences/:model/:id/renew',
    {
      config,
      schema: {
        summary: 'Renew a correlation-ID lease',
        tags: ['sequences'],
        params: seqParams,
        body: z.strictObject({ token: z.string().min(1).max(200), ttlMs: TTL.optional() }),
      },
    },
    async (req) => {
      const lease = await ids.renew(
        { model: req.params.model, id: parseId(req.params.id), token: req.body.token },
        req.body.ttlMs ? { ttl: req.body.ttlMs } : {},
      );
      return leaseOut(lease);
    },
  );
  app.delete(
    '/v1/sequences/:model/:id',
    {
      config,
      schema: {
        summary: 'Release a correlation ID',
        tags: ['sequences'],
        params: seqParams,
        body: z.strictObject({ token: z.string().min(1).max(200) }),
      },
    },
    async (req) => ids.release({ model: req.params.model, id: parseId(req.params.id), token: req.body.token }),
  );
};
