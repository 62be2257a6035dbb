/**
 * The one authorisation plugin of `msb serve`: the API, the dashboard and Bull Board all rely on it. It decorates
 * every request with its `principal` (from the Authorization header, else the session cookie) and refuses a route
 * whose `config.scope` the principal lacks with `MSB_API_UNAUTHORIZED` (401) or `MSB_API_FORBIDDEN` (403). How the
 * refusal looks is the route's scope's error handler's business: a problem document for the API, the login form or
 * a "forbidden" page for the dashboard.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { CSRF_HEADER, SESSION_COOKIE } from './context.js';
import { ApiError } from './errors.js';
import { allows, type Principal, type TokenVerifier } from './tokens.js';

/** The principal of a server without a tokens file: everything is allowed (it only listens on loopback). */
const OPEN: Principal = { name: 'local', scopes: ['admin'] };

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** A request's origin is this server's own (SameSite=Strict already keeps other sites' cookies out). */
export function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  return origin === `http://${req.headers.host}` || origin === `https://${req.headers.host}`;
}

async function authPlugin(app: FastifyInstance, opts: { tokens: TokenVerifier | undefined }): Promise<void> {
  const { tokens } = opts;
  app.decorateRequest('principal', undefined);
  app.decorateRequest('viaCookie', false);
  app.addHook('onRequest', async (req, reply) => {
    const config = req.routeOptions.config;
    const unsafe = req.method !== 'GET' && req.method !== 'HEAD';
    const scope = (unsafe && config?.writeScope) || config?.scope;
    if (!scope) return;
    if (!tokens) req.principal = OPEN;
    else {
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      const token = bearer ?? cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (token && token.length <= 256) {
        req.principal = await tokens.verify(token);
        req.viaCookie = bearer === undefined;
      }
    }
    const p = req.principal;
    if (!p) {
      reply.header('www-authenticate', 'Bearer realm="msb"');
      throw new ApiError('MSB_API_UNAUTHORIZED', 'a bearer token is needed (msb token add)');
    }
    if (!allows(p, scope))
      throw new ApiError('MSB_API_FORBIDDEN', `token ${p.name} lacks the ${scope} scope this needs`, { scope });
    if (unsafe && req.viaCookie && req.headers[CSRF_HEADER] !== '1' && !(config.sameOriginWrites && sameOrigin(req)))
      throw new ApiError(
        'MSB_API_FORBIDDEN',
        `a state change authenticated by the session cookie needs the ${CSRF_HEADER} header`,
      );
  });
}

/** Registered first, at the root: its hook covers every route registered after it, in every scope. */
export const auth = fp(authPlugin, { name: 'msb-auth', fastify: '5.x' });
