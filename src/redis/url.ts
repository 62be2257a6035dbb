/**
 * One URL form names every Redis topology msb runs on:
 * - `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS): one server.
 * - `redis+sentinel://[user:password@]host:port,host:port/master-name[/db]` (`rediss+sentinel://` for TLS to the
 *   data nodes): a primary found through Redis Sentinel, followed across failovers.
 * - `redis+cluster://[user:password@]host:port,host:port` (`rediss+cluster://`): a Redis Cluster, seeded by these
 *   nodes.
 * Parsing has no dependency on ioredis, so the CLI can check a URL before loading it.
 */
import { RedisError } from './errors.js';

export type RedisTopology = 'single' | 'sentinel' | 'cluster';

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisTarget {
  topology: RedisTopology;
  tls: boolean;
  /** One node for `single`, the sentinels for `sentinel`, the seed nodes for `cluster`. */
  nodes: RedisNode[];
  /** Sentinel: the monitored primary's name. */
  masterName?: string;
  /** Logical database (not on a cluster, which only has db 0). */
  db: number;
  username?: string;
  password?: string;
  /** The URL with the password masked, for logs and messages. */
  display: string;
}

const SCHEMES: Record<string, { topology: RedisTopology; tls: boolean }> = {
  redis: { topology: 'single', tls: false },
  rediss: { topology: 'single', tls: true },
  'redis+sentinel': { topology: 'sentinel', tls: false },
  'rediss+sentinel': { topology: 'sentinel', tls: true },
  'redis+cluster': { topology: 'cluster', tls: false },
  'rediss+cluster': { topology: 'cluster', tls: true },
};

const FORMS =
  'redis://host:port[/db], rediss://host:port, redis+sentinel://host:port,host:port/master-name, redis+cluster://host:port,host:port';

/** Parses and checks a Redis URL; every problem is a `MSB_REDIS_URL` error naming it and the accepted forms. */
export function parseRedisUrl(url: string): RedisTarget {
  const bad = (why: string): never => {
    throw new RedisError('MSB_REDIS_URL', `invalid Redis URL ${JSON.stringify(mask(url))}: ${why} (forms: ${FORMS})`, {
      url: mask(url),
    });
  };
  if (typeof url !== 'string' || url.length === 0) bad('empty');
  if (url.length > 4096) bad('longer than 4096 characters');
  const m = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url);
  if (!m) return bad('not of the form scheme://host:port');
  const [, rawScheme = '', auth, hosts = '', rawPath = '', query] = m;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (!scheme) return bad(`unknown scheme ${JSON.stringify(`${rawScheme}://`)}`);
  if (query) bad('query parameters are not supported');
  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    const u = decode(colon < 0 ? auth : auth.slice(0, colon), bad);
    const p = colon < 0 ? undefined : decode(auth.slice(colon + 1), bad);
    // redis://:password@host is the classic form; a user without a password is only a name
    if (u) username = u;
    if (p) password = p;
    if (colon < 0 && u) {
      // "redis://secret@host": Redis clients before ACLs read the lone part as the password
      username = undefined;
      password = u;
    }
  }
  const list = hosts.split(',');
  if (list.length > 1 && scheme.topology === 'single') bad('several hosts need redis+sentinel:// or redis+cluster://');
  const nodes = list.map((h) => parseNode(h, scheme.topology !== 'single', bad));
  const path = rawPath.split('/').filter((p) => p !== '');
  let db = 0;
  let masterName: string | undefined;
  const parseDb = (text: string) => {
    if (!/^\d{1,5}$/.test(text)) bad(`database ${JSON.stringify(text)} is not a number`);
    return Number(text);
  };
  if (scheme.topology === 'sentinel') {
    masterName = path[0] === undefined ? undefined : decode(path[0], bad);
    if (!masterName) bad('the sentinel form needs the master name as path: redis+sentinel://host:port,…/master-name');
    if (path[1] !== undefined) db = parseDb(path[1]);
    if (path.length > 2) bad('path has more than /master-name/db');
  } else if (scheme.topology === 'cluster') {
    if (path.length > 0) bad('a cluster has only database 0: no path');
  } else {
    if (path[0] !== undefined) db = parseDb(path[0]);
    if (path.length > 1) bad('path has more than /db');
  }
  return {
    topology: scheme.topology,
    tls: scheme.tls,
    nodes,
    ...(masterName ? { masterName } : {}),
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    display: mask(url),
  };
}

function parseNode(text: string, needPort: boolean, bad: (why: string) => never): RedisNode {
  if (text === '') bad('a host is empty');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return bad(`host ${JSON.stringify(text)} is not host or host:port`);
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  if (m[2] === undefined && needPort) bad(`host ${JSON.stringify(text)} needs a port`);
  const port = m[2] === undefined ? 6379 : Number(m[2]);
  if (port < 1 || port > 65535) bad(`port ${port} is out of range`);
  return { host, port };
}

function decode(text: string, bad: (why: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return bad(`${JSON.stringify(text)} is not percent-encoded properly`);
  }
}

/** The URL with any password replaced by `***`. */
export function mask(url: string): string {
  if (typeof url !== 'string') return String(url);
  return url.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_all, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    if (colon < 0) return `${scheme}***@`;
    return `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

/** `REDIS_URL`, else a local Redis on the default port. */
export function defaultRedisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}
