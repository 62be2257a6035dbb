/**
 * Every ioredis connection msb makes comes from {@link openRedis}: the worker, the job client, correlation IDs, the
 * CLI, the demo, the ops endpoint and `msb serve`. One place decides the topology (from the URL), the reconnect
 * policy, and what is logged: one line per state change (lost, reconnecting, back), never ioredis' "Unhandled
 * error event" stack traces and never a silently dropped error.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { RedisError } from './errors.js';
import { parseRedisUrl, type RedisTarget } from './url.js';

export type RedisConnection = Redis | Cluster;

/**
 * - `service` (workers, servers): reconnects for ever (backoff up to 2 s); commands wait for Redis to come back.
 * - `command` (CLI, one-shot tools): gives up once Redis has been unreachable for `connectTimeoutMs`; waiting
 *   commands then fail, and {@link RedisLink.connected} rejects with `MSB_REDIS_UNREACHABLE`.
 */
export type RedisMode = 'service' | 'command';

/** `connecting` until the first ready; `down` while lost; `closed` after close (or a command-mode give-up). */
export type RedisState = 'connecting' | 'ready' | 'down' | 'closed';

export interface OpenRedisOptions {
  /** Default: `service`. */
  mode?: RedisMode;
  /** Command mode: how long Redis may be unreachable before giving up. Default: `$MSB_REDIS_TIMEOUT_MS`, else 5 000. */
  connectTimeoutMs?: number;
  /** `CLIENT SETNAME`, so `CLIENT LIST` shows who is connected (e.g. `msb-worker`). */
  name?: string;
  /** Where state lines go. Default: stderr in service mode, nowhere in command mode (its error says it). */
  log?: (line: string) => void;
}

function defaultTimeout(): number {
  const env = Number(process.env.MSB_REDIS_TIMEOUT_MS);
  return Number.isSafeInteger(env) && env > 0 ? env : 5000;
}

/** A cluster command's retry delay while the cluster is down or a node's connection closed. */
const CLUSTER_RETRY_MS = 200;
/** How long a service's cluster command waits for a cluster that is down before it fails. */
const SERVICE_CLUSTER_WAIT_MS = 60_000;

/** Service mode's reconnect delay: 200, 400, 800, 1600, then every 2 000 ms. */
const serviceDelay = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);

/** Errors that mean "Redis is not reachable right now": the state lines already tell them. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (
    typeof e.code === 'string' &&
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(e.code)
  )
    return true;
  return (
    typeof e.message === 'string' &&
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|None of startup nodes|Failed to refresh slots|All sentinels are unreachable|CLUSTERDOWN|MASTERDOWN|READONLY|LOADING|connect ETIMEDOUT|Reached the max retries/i.test(
      e.message,
    )
  );
}

/**
 * A connection with its state: {@link RedisLink.connection} is the ioredis client (pass it to BullMQ as
 * `connection`: a Queue shares it, a Worker or QueueEvents duplicates it with the same options).
 */
export class RedisLink {
  readonly target: RedisTarget;
  readonly connection: RedisConnection;
  readonly mode: RedisMode;
  private current: RedisState = 'connecting';
  private error: string | undefined;
  private downSince = Date.now();
  private toldReconnecting = false;
  private toldUnreachable = false;
  private closing = false;
  private lastReported: string | undefined;
  /** Connections duplicated from this one (by BullMQ for workers and event readers, or {@link duplicate}). */
  private readonly copies = new Set<RedisConnection>();
  /** Where this link's state lines go (`log`, else stderr in service mode): also for its owner's own lines. */
  readonly log: (line: string) => void;
  private readonly connectTimeoutMs: number;

  constructor(url: string, options: OpenRedisOptions = {}) {
    this.target = parseRedisUrl(url);
    this.mode = options.mode ?? 'service';
    this.connectTimeoutMs = options.connectTimeoutMs ?? defaultTimeout();
    this.log =
      options.log ?? (this.mode === 'service' ? (line) => process.stderr.write(`msb: ${line}\n`) : () => undefined);
    const retry = (attempt: number): number | null => {
      if (this.closing) return null;
      if (this.mode === 'command') return Date.now() - this.downSince > this.connectTimeoutMs ? null : 250;
      return serviceDelay(attempt);
    };
    const t = this.target;
    const common: RedisOptions = {
      lazyConnect: true,
      // BullMQ's blocking connections require null; command mode bounds waiting through `retry` instead
      maxRetriesPerRequest: null,
      connectTimeout: Math.min(this.connectTimeoutMs, 10_000),
      // ioredis arms this timer on disconnect and clears it when the socket closes; a socket that already closed
      // (connection refused) never clears it, so every failed command sat 2 s (the default) before exiting.
      ...(this.mode === 'command' ? { disconnectTimeout: 100 } : {}),
      ...(options.name ? { connectionName: options.name } : {}),
      ...(t.username ? { username: t.username } : {}),
      ...(t.password ? { password: t.password } : {}),
      ...(t.tls ? { tls: {} } : {}),
    };
    if (t.topology === 'cluster') {
      this.connection = new Cluster(t.nodes, {
        lazyConnect: true,
        clusterRetryStrategy: retry,
        // a node that left: refresh the slot map quickly rather than after the default 1 s per redirection
        slotsRefreshTimeout: 2000,
        // A command retried on CLUSTERDOWN or a closed node connection spends one "redirection" per retry; at
        // ioredis' default 16 × 100 ms it failed ("Too many Cluster redirections … CLUSTERDOWN") 1.6 s into a
        // cluster restart, while the nodes were still agreeing the cluster was up. Like a single server's commands,
        // a cluster's now wait out an outage: about a minute in service mode, the connect timeout in command mode.
        retryDelayOnClusterDown: CLUSTER_RETRY_MS,
        retryDelayOnFailover: CLUSTER_RETRY_MS,
        maxRedirections: Math.max(
          16,
          Math.ceil((this.mode === 'service' ? SERVICE_CLUSTER_WAIT_MS : this.connectTimeoutMs) / CLUSTER_RETRY_MS),
        ),
        redisOptions: common,
      });
    } else if (t.topology === 'sentinel') {
      this.connection = new Redis({
        ...common,
        sentinels: t.nodes,
        name: t.masterName as string,
        db: t.db,
        retryStrategy: retry,
        sentinelRetryStrategy: retry,
        ...(t.tls ? { enableTLSForSentinelMode: true } : {}),
      });
    } else {
      const [node] = t.nodes as [{ host: string; port: number }];
      this.connection = new Redis({ ...common, host: node.host, port: node.port, db: t.db, retryStrategy: retry });
    }
    this.trackCopies();
    this.watch();
    this.connection.connect().catch(() => undefined); // failures arrive as events; connected() reports them
  }

  /** The URL with the password masked. */
  get url(): string {
    return this.target.display;
  }

  get state(): RedisState {
    return this.current;
  }

  get ready(): boolean {
    return this.current === 'ready';
  }

  /** The last connection error seen since the link was last ready. */
  get lastError(): string | undefined {
    return this.error;
  }

  /** For `/healthz`. */
  health(): { url: string; state: RedisState; lastError?: string } {
    return { url: this.url, state: this.current, ...(this.error && !this.ready ? { lastError: this.error } : {}) };
  }

  /**
   * BullMQ duplicates the connection it is given for its blocking reads. Those copies are remembered so that
   * {@link close} can drop them too: BullMQ's own close waits for Redis to answer QUIT, which never happens while
   * Redis is down, and a copy left reconnecting would keep the process alive.
   */
  private trackCopies(): void {
    const c = this.connection as { duplicate: (...args: unknown[]) => RedisConnection };
    const original = c.duplicate.bind(c);
    c.duplicate = (...args: unknown[]) => {
      const copy = original(...args);
      this.copies.add(copy);
      copy.once('end', () => this.copies.delete(copy));
      return copy;
    };
  }

  private watch(): void {
    const c = this.connection;
    c.on('ready', () => {
      if (this.current === 'down') this.log(`Redis at ${this.url}: back`);
      this.current = 'ready';
      this.error = undefined;
      this.toldReconnecting = false;
      this.toldUnreachable = false;
    });
    c.on('error', (err: Error) => {
      this.error = err.message;
      this.markDown(err.message);
    });
    // a cluster reports each node's errors here too; the cluster's own state decides what is logged
    if (c instanceof Cluster)
      c.on('node error', (err: Error) => {
        this.error = err.message;
      });
    c.on('close', () => this.markDown());
    c.on('reconnecting', () => {
      if (this.closing || this.toldReconnecting || this.mode === 'command') return;
      this.toldReconnecting = true;
      this.log(`Redis at ${this.url}: reconnecting (every ${serviceDelay(5) / 1000} s at most, until it is back)`);
    });
    c.on('end', () => {
      this.current = 'closed';
    });
  }

  private markDown(reason?: string): void {
    if (this.closing || this.current === 'closed') return;
    if (this.current === 'ready') {
      this.current = 'down';
      this.downSince = Date.now();
      this.log(`Redis at ${this.url}: connection lost${reason ? ` (${reason})` : ''}`);
    } else if (this.current === 'connecting' && reason && !this.toldUnreachable) {
      this.toldUnreachable = true;
      this.log(`Redis at ${this.url}: cannot connect (${reason})`);
    }
  }

  /**
   * Errors that BullMQ objects built on this link emit (their own duplicated connections): connection errors are
   * what the state lines already say; anything else is logged, once per distinct message in a row.
   */
  report(err: unknown): void {
    if (this.closing) return;
    if (isConnectionError(err)) {
      this.error = (err as Error).message;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (message === this.lastReported) return;
    this.lastReported = message;
    this.log(`Redis at ${this.url}: ${message}`);
  }

  /**
   * A second connection to the same Redis with the same options (pub/sub needs its own). Its errors go to
   * {@link report}; the caller disconnects it.
   */
  duplicate(): RedisConnection {
    const c = this.connection;
    const copy: RedisConnection = c instanceof Cluster ? c.duplicate() : c.duplicate();
    copy.on('error', (err: Error) => this.report(err));
    copy.connect().catch(() => undefined); // lazyConnect is inherited
    return copy;
  }

  /** Resolves once Redis answers; rejects with `MSB_REDIS_UNREACHABLE` after `timeoutMs` (default: the link's). */
  connected(timeoutMs = this.connectTimeoutMs): Promise<void> {
    if (this.current === 'ready') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const c = this.connection;
      const done = (err?: Error) => {
        clearTimeout(timer);
        c.off('ready', onReady);
        c.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(this.unreachable());
      const timer = setTimeout(() => done(this.unreachable()), timeoutMs);
      c.on('ready', onReady);
      c.on('end', onEnd);
    });
  }

  /** The error for "Redis did not answer": `cannot reach Redis at URL (last error)`. */
  unreachable(cause?: unknown): RedisError {
    // Already this error (thrown deeper, caught again by a caller that classifies connection errors): as it is, not
    // "cannot reach Redis at URL (cannot reach Redis at URL (...))".
    if (cause instanceof RedisError && cause.code === 'MSB_REDIS_UNREACHABLE') return cause;
    const why = cause instanceof Error ? cause.message : this.error;
    // What was tried and for how long: a command gives up after its bound, and the line says how to change it.
    const triedMs = this.current === 'ready' ? 0 : Date.now() - this.downSince;
    const tried = triedMs > 0 ? `, trying for ${(triedMs / 1000).toFixed(1)} s` : '';
    const bound =
      this.mode === 'command'
        ? ` (a command waits ${this.connectTimeoutMs / 1000} s: --redis-timeout SECONDS or MSB_REDIS_TIMEOUT_MS changes it)`
        : '';
    return new RedisError(
      'MSB_REDIS_UNREACHABLE',
      `cannot reach Redis at ${this.url}${why ? ` (${why})` : ''}${tried}${bound}`,
      {
        url: this.url,
        ...(why ? { reason: why } : {}),
        triedMs,
        ...(this.mode === 'command' ? { timeoutMs: this.connectTimeoutMs } : {}),
      },
      cause === undefined ? {} : { cause },
    );
  }

  /**
   * QUIT when Redis answers (bounded to 1 s), then disconnect, this connection and every copy of it still open:
   * never waits on an unreachable Redis. Close the BullMQ objects built on the link first when Redis is up.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.current === 'ready') {
      await Promise.race([
        this.connection.quit().catch(() => undefined),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
    }
    for (const copy of this.copies) copy.disconnect();
    this.copies.clear();
    this.connection.disconnect();
    this.current = 'closed';
  }
}

/** Opens a connection for a service (reconnects for ever) or a command (gives up); see {@link RedisMode}. */
export function openRedis(url: string, options: OpenRedisOptions = {}): RedisLink {
  return new RedisLink(url, options);
}

/**
 * For CLI commands and other one-shot callers: a command-mode connection that is ready, or `MSB_REDIS_UNREACHABLE`
 * ("cannot reach Redis at URL") after `connectTimeoutMs`.
 */
export async function connectRedis(url: string, options: Omit<OpenRedisOptions, 'mode'> = {}): Promise<RedisLink> {
  const link = openRedis(url, { ...options, mode: 'command' });
  try {
    await link.connected();
    return link;
  } catch (err) {
    await link.close();
    throw err;
  }
}

/**
 * Runs `fn` on a command-mode connection; a connection failure on the way becomes `MSB_REDIS_UNREACHABLE`
 * (the CLI prints one line, never a stack trace).
 */
export async function withRedis<T>(
  url: string,
  fn: (link: RedisLink) => Promise<T>,
  options: Omit<OpenRedisOptions, 'mode'> = {},
): Promise<T> {
  const link = await connectRedis(url, options);
  try {
    return await fn(link);
  } catch (err) {
    if (isConnectionError(err)) throw link.unreachable(err);
    throw err;
  } finally {
    await link.close();
  }
}

/** Every key matching `pattern`: on a cluster, from every primary. */
export async function scanKeys(connection: RedisConnection, pattern: string): Promise<string[]> {
  const nodes = connection instanceof Cluster ? connection.nodes('master') : [connection];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/**
 * `WAIT replicas timeout` on `connection`: every write this connection sent before reached `replicas` replicas, or
 * `MSB_REDIS_NOT_REPLICATED`. WAIT covers the writes of the connection it runs on, so it must follow the write on
 * the same client (ioredis sends one client's commands in order on one socket). Not on a cluster connection, which
 * would send WAIT to any node.
 */
export async function waitForReplicas(
  connection: RedisConnection,
  replicas: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  if (replicas <= 0) return;
  if (connection instanceof Cluster) {
    throw new RedisError(
      'MSB_REDIS_NOT_REPLICATED',
      `waiting for replicas is not supported on a Redis Cluster (${what})`,
    );
  }
  const acked = await connection.wait(replicas, timeoutMs);
  if (acked < replicas) {
    throw new RedisError(
      'MSB_REDIS_NOT_REPLICATED',
      `${what}: ${acked} of ${replicas} replicas confirmed the write within ${timeoutMs} ms; a failover now could lose it`,
      { replicas, acked, timeoutMs },
    );
  }
}
