import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRedis, type RedisConnection, type RedisLink, RedisScript, waitForReplicas } from '../redis/index.js';
import { CidError } from './errors.js';
import { checkMillis, checkModelName, defaultRedisUrl, MAX_UINT64, parseId } from './names.js';
import { ACQUIRE, LIST, RELEASE, RENEW } from './scripts.js';

/** Triton's two correlation-ID kinds (`CONTROL_SEQUENCE_CORRID` `data_type` TYPE_UINT64 or TYPE_STRING). */
export type IdKind = 'uint64' | 'string';

/** The ID's JavaScript type: uint64 IDs are bigint (exact up to 2^64-1), string IDs are strings. */
export type IdOf<K extends IdKind> = K extends 'string' ? string : bigint;

/** A held correlation ID. Times are Redis server milliseconds since the epoch. */
export interface Lease<K extends IdKind = IdKind> {
  model: string;
  kind: K;
  id: IdOf<K>;
  /** Secret of the holder: only a caller presenting it can renew or release the lease. */
  token: string;
  /** Lease length in ms, as last acquired/renewed. */
  ttl: number;
  acquiredAt: number;
  expiresAt: number;
}

/** What renew/release need: a {@link Lease}, or its parts (e.g. from the CLI). */
export type LeaseRef = Pick<Lease, 'model' | 'id' | 'token'> & { kind?: IdKind; ttl?: number; acquiredAt?: number };

/** A live lease as listed by {@link CorrelationIds.list} (the token is not shown). */
export interface LeaseInfo {
  model: string;
  id: bigint;
  ttl: number;
  acquiredAt: number;
  expiresAt: number;
}

export interface CorrelationIdsOptions {
  /**
   * Prefix of every Redis key.
   * @default 'msb:cid'
   */
  prefix?: string;
  /**
   * Lease length in ms when `acquire`/`renew` are not given one.
   * @default 30000
   */
  ttl?: number;
  /**
   * Quarantine in ms: an ID released at server time T (or whose lease expired at T) is not handed out again before
   * T + reuseDelay. Cover here whatever may still carry the old ID after its lease ends: requests already sent, a
   * holder that has not noticed its lease expired (up to one renewal interval), Triton's
   * `max_sequence_idle_microseconds`. Only matters once a model's counter wraps around `maxId`. Applied when
   * acquiring; give every client of a model the same value (with different ones, the shortest is what holds).
   * @default 30000
   */
  reuseDelay?: number;
  /**
   * Largest ID handed out. IDs count up from 1 and wrap to 1 after this, skipping IDs that are live or
   * quarantined. Use 4294967295 for a TYPE_UINT32 / 2147483647 for a TYPE_INT32 CORRID control.
   * @default 18446744073709551615n (2^64-1)
   */
  maxId?: bigint | number;
  /**
   * Most live leases one model may have; `acquire` beyond it fails with `MSB_CID_CAP_REACHED`. 0 = no cap.
   * @default 0
   */
  cap?: number;
  /**
   * How many consecutive candidate IDs one `acquire` examines (after a wraparound) before it gives up with
   * `MSB_CID_EXHAUSTED`. Bounds the time the script holds Redis.
   * @default 1000
   */
  maxTries?: number;
  /**
   * Replicas that must hold a new lease before `acquire` returns it (`WAIT n`). Without it, a primary lost right
   * after an acquire (Sentinel failover to a replica the write had not reached) forgets the lease and its counter
   * step, and hands the same ID out again while the first holder still uses it. With 1, the lease is on a replica
   * before anyone sees it; when the replicas do not confirm in `waitTimeoutMs`, acquire releases the lease and fails
   * with `MSB_REDIS_NOT_REPLICATED`. Not on a Redis Cluster connection.
   * @default 0
   */
  waitReplicas?: number;
  /** @default 1000 */
  waitTimeoutMs?: number;
}

export interface AcquireOptions<K extends IdKind = 'uint64'> {
  /** Lease length in ms. @default the client's `ttl` */
  ttl?: number;
  /** The ID kind the model's CORRID control uses. @default 'uint64' */
  kind?: K;
  /** Per-call override of the client's `cap`. */
  cap?: number;
}

export interface SequenceOptions<K extends IdKind = 'uint64'> extends AcquireOptions<K> {
  /** Renewal period in ms while the callback runs. @default ttl / 3 (rounded down, at least 1) */
  renewEvery?: number;
}

export interface SequenceContext<K extends IdKind> {
  /** Aborted (reason: a `CidError` `MSB_CID_LEASE_LOST`/`MSB_CID_EXPIRED`/`MSB_CID_NOT_HELD`) when the lease is lost. */
  signal: AbortSignal;
  /** The lease as last renewed. */
  lease: Lease<K>;
}

/** A script's reply: a number or `'id now'` when it did its work, `['CODE', detail?]` when it refused. */
type Reply = number | string | (string | number)[];
interface ModelKeys {
  leases: string;
  ends: string;
  state: string;
  released: string;
  releasedBefore: string;
}
const SCRIPTS = {
  acquire: new RedisScript(ACQUIRE, 3),
  renew: new RedisScript(RENEW, 2),
  release: new RedisScript(RELEASE, 5),
  list: new RedisScript(LIST, 1),
};

/**
 * Correlation IDs for Triton's sequence batcher, leased from Redis.
 *
 * Guarantees (for one Redis, or a primary whose writes reach the AOF before they are acknowledged):
 * - `acquire(model)` returns an ID in 1..`maxId` (never 0, which Triton reads as "no sequence") that no other live
 *   lease of that model holds, whichever client or machine holds it.
 * - A lease is live from `acquiredAt` until it is released or its `expiresAt` passes on the Redis server's clock;
 *   `renew` moves `expiresAt` to now + ttl. Only the holder of the lease's token can renew or release it.
 * - An ID is handed out again only after its lease ended (release or expiry) and a further `reuseDelay` ms passed.
 *   IDs are handed out in increasing order, so before the counter wraps around `maxId` no ID is ever reused.
 * - Durability: every change is one Lua script whose effects Redis writes to its AOF. With `appendonly yes` and
 *   `appendfsync always`, an acknowledged acquire survives a crash and restart, so no live ID is handed out twice.
 *   With weaker persistence a crash can lose recent counter increments and hand out IDs again.
 * - Lease times are absolute server times, not Redis key TTLs: time spent while Redis is down counts, and a lease
 *   whose `expiresAt` passed during an outage is expired when Redis is back (its holder could not renew it either).
 *   A Redis host clock that jumps backwards lengthens leases and quarantines; one that jumps forward shortens them.
 */
export class CorrelationIds {
  private readonly redis: RedisConnection;
  private readonly link: RedisLink | undefined;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly reuseDelay: number;
  private readonly maxId: string;
  private readonly cap: number;
  private readonly maxTries: number;
  private readonly keyCache = new Map<string, ModelKeys>();

  /**
   * @param connection an ioredis client or cluster (left open by {@link close}), or a Redis URL in any of msb's
   * forms (connection owned and closed by {@link close}). Default: `REDIS_URL`, else `redis://127.0.0.1:6379`.
   */
  constructor(connection: RedisConnection | string = defaultRedisUrl(), options: CorrelationIdsOptions = {}) {
    this.prefix = options.prefix ?? 'msb:cid';
    this.ttl = checkMillis('MSB_CID_TTL', 'ttl', options.ttl ?? 30_000);
    this.reuseDelay = checkMillis('MSB_CID_OPTION', 'reuseDelay', options.reuseDelay ?? 30_000, 0);
    const maxId = options.maxId ?? MAX_UINT64;
    if (
      (typeof maxId !== 'bigint' && !Number.isSafeInteger(maxId)) ||
      BigInt(maxId) < 1n ||
      BigInt(maxId) > MAX_UINT64
    ) {
      throw new CidError('MSB_CID_OPTION', `invalid maxId ${String(maxId)}: an integer in 1..2^64-1 is needed`, {
        maxId,
      });
    }
    this.maxId = BigInt(maxId).toString();
    this.cap = checkCount('cap', options.cap ?? 0, 0);
    // no point looking at more candidates than the range holds
    this.maxTries = Math.min(checkCount('maxTries', options.maxTries ?? 1000, 1), Number(maxId));
    this.waitReplicas = checkCount('waitReplicas', options.waitReplicas ?? 0, 0);
    this.waitTimeoutMs = checkCount('waitTimeoutMs', options.waitTimeoutMs ?? 1000, 1);
    this.link = typeof connection === 'string' ? openRedis(connection, { name: 'msb-cid' }) : undefined;
    this.redis = this.link ? this.link.connection : (connection as RedisConnection);
  }

  /** Closes the connection when this client opened it (from a URL); a passed-in ioredis client stays open. */
  async close(): Promise<void> {
    await this.link?.close();
  }

  /** Leases an ID unique among the model's live leases. Throws `MSB_CID_CAP_REACHED` / `MSB_CID_EXHAUSTED` when none is free. */
  async acquire<K extends IdKind = 'uint64'>(model: string, options: AcquireOptions<K> = {}): Promise<Lease<K>> {
    const k = this.keys(model);
    const ttl = checkMillis('MSB_CID_TTL', 'ttl', options.ttl ?? this.ttl);
    const kind = (options.kind ?? 'uint64') as K;
    if (kind !== 'uint64' && kind !== 'string') {
      throw new CidError('MSB_CID_KIND', `invalid ID kind ${JSON.stringify(kind)}: 'uint64' or 'string' is needed`, {
        kind,
      });
    }
    const cap = checkCount('cap', options.cap ?? this.cap, 0);
    // randomUUID draws from a cached entropy pool: far cheaper per call than randomBytes
    const token = randomUUID();
    const r = await this.run(
      SCRIPTS.acquire,
      k.leases,
      k.ends,
      k.state,
      token,
      ttl,
      this.reuseDelay,
      cap,
      this.maxId,
      this.maxTries,
    );
    if (typeof r !== 'string') throw this.refused(r, model, cap);
    const space = r.indexOf(' ');
    const text = r.slice(0, space);
    const acquiredAt = Number(r.slice(space + 1));
    const lease: Lease<K> = {
      model,
      kind,
      id: (kind === 'string' ? text : BigInt(text)) as IdOf<K>,
      token,
      ttl,
      acquiredAt,
      expiresAt: acquiredAt + ttl,
    };
    if (this.waitReplicas > 0) {
      try {
        // same connection as the script: WAIT covers it
        await waitForReplicas(this.redis, this.waitReplicas, this.waitTimeoutMs, `lease on ${model} ID ${text}`);
      } catch (err) {
        // not handed out: give it back (best effort; it expires after ttl anyway)
        await this.release(lease).catch(() => undefined);
        throw err;
      }
    }
    return lease;
  }

  /** The typed error of an acquire Redis refused (`{'CAP', live}` or `{'EXHAUSTED', tries}`). */
  private refused(r: Reply, model: string, cap: number): Error {
    if (Array.isArray(r) && r[0] === 'CAP') {
      return new CidError(
        'MSB_CID_CAP_REACHED',
        `model ${model} already has ${r[1]} live correlation IDs (cap ${cap})`,
        {
          model,
          cap,
          live: r[1],
        },
      );
    }
    if (Array.isArray(r) && r[0] === 'EXHAUSTED') {
      return new CidError(
        'MSB_CID_EXHAUSTED',
        `no free correlation ID for model ${model}: the next ${r[1]} IDs (range 1..${this.maxId}) are live or quarantined`,
        { model, maxId: this.maxId, tries: r[1] },
      );
    }
    return new Error(`unexpected acquire reply ${JSON.stringify(r)}`);
  }

  /** Extends a live lease to now + ttl (server time). Throws `MSB_CID_NOT_HELD` / `MSB_CID_EXPIRED`. */
  async renew<K extends IdKind>(lease: Lease<K>, options?: { ttl?: number }): Promise<Lease<K>>;
  async renew(lease: LeaseRef, options?: { ttl?: number }): Promise<Lease>;
  async renew(lease: LeaseRef, options: { ttl?: number } = {}): Promise<Lease> {
    const ttl = checkMillis('MSB_CID_TTL', 'ttl', options.ttl ?? lease.ttl ?? this.ttl);
    const { model, id, k } = this.ref(lease);
    const now = this.check(await this.run(SCRIPTS.renew, k.leases, k.ends, id, lease.token, ttl), model, id);
    return {
      ...lease,
      kind: lease.kind ?? (typeof lease.id === 'string' ? 'string' : 'uint64'),
      ttl,
      acquiredAt: lease.acquiredAt ?? now,
      expiresAt: now + ttl,
    };
  }

  /**
   * Ends a lease; its ID is quarantined for `reuseDelay` ms. Releasing again with the same token within 60 s is
   * answered like the first release (ioredis resends a command whose reply a dropped connection lost). Throws `MSB_CID_NOT_HELD` when the token
   * does not hold the ID, `MSB_CID_EXPIRED` when the lease had already run out.
   * @returns the server time of the release
   */
  async release(lease: LeaseRef): Promise<{ releasedAt: number }> {
    const { model, id, k } = this.ref(lease);
    const releasedAt = this.check(
      await this.run(SCRIPTS.release, k.leases, k.ends, k.state, k.released, k.releasedBefore, id, lease.token),
      model,
      id,
    );
    return { releasedAt };
  }

  /** The model's live leases, by ID. */
  async list(model: string): Promise<LeaseInfo[]> {
    const r = (await this.run(SCRIPTS.list, this.keys(model).leases)) as string[];
    const out: LeaseInfo[] = [];
    for (let i = 1; i + 1 < r.length; i += 2) {
      const [, ttl, acquiredAt, expiresAt] = String(r[i + 1]).split(' ');
      out.push({
        model,
        id: BigInt(String(r[i])),
        ttl: Number(ttl),
        acquiredAt: Number(acquiredAt),
        expiresAt: Number(expiresAt),
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Runs `fn` holding a lease: acquires, renews every `renewEvery` ms while `fn` runs, releases when `fn` settles
   * (also when it throws). When the lease cannot be renewed before it would expire (Redis unreachable, lease
   * expired or taken), `context.signal` aborts with a `CidError`; `withSequence` then rejects with that error
   * even if `fn` resolves, because the ID was not protected for the whole sequence.
   */
  async withSequence<T, K extends IdKind = 'uint64'>(
    model: string,
    fn: (id: IdOf<K>, context: SequenceContext<K>) => Promise<T> | T,
    options: SequenceOptions<K> = {},
  ): Promise<T> {
    const ttl = checkMillis('MSB_CID_TTL', 'ttl', options.ttl ?? this.ttl);
    const renewEvery = checkMillis('MSB_CID_TTL', 'renewEvery', options.renewEvery ?? Math.max(1, Math.floor(ttl / 3)));
    // The lease outlives (local time before the request) + ttl, whatever the clocks say: the server stamped it later.
    let deadline = performance.now() + ttl;
    let lease = await this.acquire<K>(model, { ...options, ttl });
    const controller = new AbortController();
    const context: SequenceContext<K> = { signal: controller.signal, lease };
    const stop = new AbortController();
    const lost = (cause: unknown) =>
      new CidError(
        'MSB_CID_LEASE_LOST',
        `lease on ${model} ID ${lease.id} could not be renewed before it could expire`,
        { model, id: String(lease.id) },
        { cause },
      );
    const renewing = (async () => {
      while (!stop.signal.aborted && !controller.signal.aborted) {
        await sleep(renewEvery, undefined, { signal: stop.signal }).catch(() => undefined);
        if (stop.signal.aborted) return;
        const before = performance.now();
        // A renewal stuck in ioredis' reconnect queue must not outlive the lease unnoticed.
        const expiry = new AbortController();
        try {
          lease = await Promise.race([
            this.renew(lease),
            sleep(Math.max(0, deadline - before), undefined, { signal: expiry.signal }).then(() => {
              throw lost(new Error('renewal still pending at the lease deadline'));
            }),
          ]);
          context.lease = lease;
          deadline = before + ttl;
        } catch (err) {
          if (err instanceof CidError) return controller.abort(err);
          // Redis unreachable: keep trying while the lease may still be live.
          if (performance.now() >= deadline) return controller.abort(lost(err));
        } finally {
          expiry.abort();
        }
      }
    })();
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await fn(lease.id, context) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    stop.abort();
    await renewing;
    let releaseError: unknown;
    // released even after a lost lease: a renewal that went through late may have kept it alive
    await this.release(lease).catch((err: unknown) => (releaseError = err));
    // fn's own error first, then a lost lease, then a failed release
    if (!outcome.ok) throw outcome.error;
    if (controller.signal.aborted) throw controller.signal.reason;
    if (releaseError !== undefined) throw releaseError; // only reached when the lease was never lost
    return outcome.value;
  }

  /** The script's reply, typed (no await of its own: one promise per call on the hot path, not two). */
  private run(script: RedisScript, ...args: (string | number)[]): Promise<Reply> {
    return script.run(this.redis, ...args) as Promise<Reply>;
  }

  /** The model's keys, built once its name passed {@link checkModelName}. */
  private keys(model: string): ModelKeys {
    let k = this.keyCache.get(model);
    if (!k) {
      checkModelName(model);
      const base = `${this.prefix}:{${model}}`;
      k = {
        leases: `${base}:leases`,
        ends: `${base}:ends`,
        state: `${base}:state`,
        released: `${base}:released`,
        releasedBefore: `${base}:released-before`,
      };
      // a client serves a handful of models; the bound only stops a stream of names from growing it forever
      if (this.keyCache.size >= 1024) this.keyCache.clear();
      this.keyCache.set(model, k);
    }
    return k;
  }

  private ref(lease: LeaseRef) {
    const k = this.keys(lease.model);
    return { model: lease.model, id: parseId(String(lease.id)).toString(), k };
  }

  /** A renew's or release's reply: the server time it happened, or the typed error of its refusal. */
  private check(r: Reply, model: string, id: string): number {
    if (typeof r === 'number') return r;
    if (Array.isArray(r) && r[0] === 'NOT_HELD') {
      throw new CidError('MSB_CID_NOT_HELD', `correlation ID ${id} of model ${model} is not held by this lease`, {
        model,
        id,
      });
    }
    if (Array.isArray(r) && r[0] === 'EXPIRED') {
      throw new CidError(
        'MSB_CID_EXPIRED',
        `lease on correlation ID ${id} of model ${model} expired at ${new Date(Number(r[1])).toISOString()}`,
        {
          model,
          id,
          expiresAt: Number(r[1]),
        },
      );
    }
    throw new Error(`unexpected script reply ${JSON.stringify(r)}`);
  }
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new CidError('MSB_CID_OPTION', `invalid ${name} ${String(value)}: an integer >= ${min} is needed`, {
      [name]: value,
    });
  }
  return value;
}
