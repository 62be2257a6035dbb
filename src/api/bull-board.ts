/**
 * Bull Board at /queues: any token with `read` may look; its actions (non-GET requests) need `admin`, and for other
 * tokens the board is shown read-only (no action buttons). The auth plugin decides who may (route config `scope`,
 * `writeScope`); a request without a token gets the dashboard's login form.
 *
 * Bull Board (its API, UI assets, view engine and static-file plugins: about 10 MiB resident) is loaded on the
 * first request to /queues, not at start: most requests never need it, and `msb serve` idles under its memory
 * target without it. Fastify cannot add routes once listening, so Bull Board lives in its own small Fastify
 * instance, built on first use; this instance authenticates the request, then hands the raw request to it
 * (`routing`, Fastify's public entry into its router). The body is left unread here for Bull Board to parse.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isMsbError } from '../errors.js';
import type { RouteOptions } from './context.js';
import { loginPage } from './pages.js';
import { allows, type Principal } from './tokens.js';

/**
 * Bull Board's page asks Google Fonts for its typeface: offline (an air-gapped GPU cluster) that request hangs until
 * the browser gives up. The page falls back to the system font without it.
 */
const GOOGLE_FONTS = /<link[^>]+href="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>\s*/g;

export const bullBoardRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  // Who each request handed to Bull Board is, for its onSend hook (same IncomingMessage in both instances).
  const principals = new WeakMap<object, Principal>();
  let board: Promise<FastifyInstance> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const load = async (): Promise<FastifyInstance> => {
    const [{ default: Fastify }, { createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
      import('fastify'),
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/fastify'),
    ]);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath('/queues');
    // @bull-board/fastify pins its own patch release of @bull-board/api; the adapter contract is the same.
    const bull = createBullBoard({
      queues: [],
      serverAdapter: serverAdapter as never,
      // The way back to msb's own pages (Bull Board's header menu).
      options: { uiConfig: { boardTitle: 'msb queues', miscLinks: [{ text: '← msb dashboard', url: '/' }] } },
    });
    let known = '';
    const refresh = async () => {
      const names = (await ctx.client.queueStats()).map((q) => q.name);
      if (names.join() === known) return;
      known = names.join();
      bull.replaceQueues(names.map((n) => new BullMQAdapter(ctx.client.bullQueue(n))));
    };
    await refresh().catch(() => {});
    timer = setInterval(() => void refresh().catch(() => {}), 5000);
    timer.unref();
    const inner = Fastify({ bodyLimit: ctx.bodyLimit });
    // Bull Board's UI hides its action buttons for a queue whose `readOnlyMode` is set (@bull-board/api's queue
    // adapter option). That flag is per adapter, not per request, so for a token without `admin` the queue list it
    // reads (GET /queues/api/queues) is answered with every queue marked read-only; the actions themselves are
    // refused by the auth plugin whatever the page shows.
    inner.addHook('onSend', async (req, reply, payload) => {
      if (typeof payload === 'string' && String(reply.getHeader('content-type')).startsWith('text/html'))
        return payload.replace(GOOGLE_FONTS, '');
      const p = principals.get(req.raw);
      if (!p || allows(p, 'admin') || typeof payload !== 'string') return payload;
      if (req.method !== 'GET' || req.url.split('?')[0] !== '/queues/api/queues') return payload;
      const body = JSON.parse(payload) as { queues?: Record<string, unknown>[] };
      for (const q of body.queues ?? []) {
        q.readOnlyMode = true;
        q.allowRetries = false;
        q.allowCompletedRetries = false;
      }
      return JSON.stringify(body);
    });
    await inner.register(serverAdapter.registerPlugin() as never, { prefix: '/queues' });
    await inner.ready();
    return inner;
  };
  app.addHook('onClose', async () => {
    clearInterval(timer);
    if (board) await (await board.catch(() => undefined))?.close();
  });

  // Bull Board parses the body itself: nothing here reads it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  // No token: the dashboard's login form; other refusals are the API's problem documents.
  app.setErrorHandler((err, _req, reply) => {
    if (isMsbError(err) && err.code === 'MSB_API_UNAUTHORIZED')
      return reply.code(401).type('text/html').send(loginPage());
    throw err;
  });
  const handOver = async (req: FastifyRequest, reply: FastifyReply) => {
    principals.set(req.raw, req.principal as Principal);
    board ??= load().catch((err) => {
      board = undefined;
      throw err;
    });
    const inner = await board;
    reply.hijack();
    inner.routing(req.raw, reply.raw);
  };
  const config = { scope: 'read', writeScope: 'admin', sameOriginWrites: true, redis: true } as const;
  app.all('/queues', { config, schema: { hide: true } }, handOver);
  app.all('/queues/*', { config, schema: { hide: true } }, handOver);
};
