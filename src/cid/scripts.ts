/**
 * The Lua scripts behind {@link CorrelationIds}. Every state change happens inside one script, so Redis runs the
 * read (is this ID free? does this token hold it?) and the write as one atomic step: there is no window between
 * them for another client.
 *
 * Keys of one model (all share the hash tag `{model}`, so a cluster keeps them on one slot):
 * - `leases` (hash): ID → `token ttl acquiredAt expiresAt` of the ID's live lease (or expired, until forgotten).
 * - `ends` (sorted set): ID → expiresAt of a live (or expired) lease, or the release time of a released ID that the
 *   counter has yet to reach in its current pass. The ID may be handed out again once its score is at least
 *   `reuseDelay` in the past; then it is forgotten. Live leases are exactly the members scored after now (the cap).
 * - `state` (hash): `next`, the last ID handed out, as decimal text (Lua numbers are doubles: no INCR arithmetic,
 *   so IDs stay exact up to 2^64-1); `lastrel`, the latest release of an ID the counter had already passed; `guard`,
 *   the time before which IDs not in `ends` must not be handed out (set on wraparound).
 *   `relgen`: when `released` was started.
 * - `released`, `released-before` (hashes): token → release time of the releases of this generation and of the one
 *   before, so that a repeated release is answered like the first for at least {@link RELEASE_MEMORY_MS} (see
 *   {@link RELEASE}).
 *
 * Why releases behind the counter are not recorded one by one: the counter only reaches them again after wrapping
 * around, and at that moment every such release is at most `lastrel` old, so `guard = lastrel + reuseDelay` covers
 * them all. That keeps `ends` as small as the set of live leases (plus releases ahead of the counter, which exist
 * only after a wraparound) instead of one entry per release of the last `reuseDelay`. The price: after a
 * wraparound, acquire waits (MSB_CID_EXHAUSTED) until the guard passes, at most `reuseDelay` once per pass.
 *
 * Times are Redis server milliseconds from `TIME`, never a client clock. Scripts are replicated (Redis >= 5) and
 * written to the AOF as their effects (the HSET/ZADD with the literal times and IDs), so a replay after a
 * restart rebuilds exactly the acknowledged state. Each script makes as few calls as it can: their cost inside
 * Redis is what bounds throughput.
 */

/** How long a release is remembered, so that the same release repeated (resent after a reconnect) is answered OK. */
export const RELEASE_MEMORY_MS = 60_000;

/** Server time in ms (from TIME), first thing of every script. Lua 5.1: no integer type, doubles hold ms exactly. */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** A lease record: `token ttl acquiredAt expiresAt`. */
const RECORD = `'%s %d %d %d'`;

/**
 * KEYS: leases ends state. ARGV: token ttl reuseDelay cap maxId maxTries.
 * → 'id now' (one string: cheaper for both sides than an array; expiresAt is now + ttl) | {'CAP', live} |
 * {'EXHAUSTED', tries}
 */
export const ACQUIRE = `${NOW}
local token, ttl, delay, cap, maxId, maxTries = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local stale = now - delay
-- IDs whose quarantine is over are forgotten (bounded per call; the rest go on the next calls)
local done = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', stale, 'LIMIT', 0, 100)
if #done > 0 then
  redis.call('ZREM', KEYS[2], unpack(done))
  redis.call('HDEL', KEYS[1], unpack(done))
end
if cap > 0 then
  local live = redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%d', now), '+inf')
  if live >= cap then return {'CAP', live} end
end
local st = redis.call('HMGET', KEYS[3], 'next', 'lastrel', 'guard')
local id, guard = st[1] or '0', tonumber(st[3] or '0')
-- guard is set at the first wraparound: until then every ID in ends is at or below the counter, so a candidate
-- above it needs no ZSCORE
local wrapped, everWrapped = false, st[3] ~= false
for try = 1, maxTries do
  -- the next ID as decimal text (IDs go up to 2^64-1, beyond a double's exact range)
  local d = {string.byte(id, 1, -1)}
  local i = #d
  while i >= 1 do
    if d[i] == 57 then d[i] = 48; i = i - 1 else d[i] = d[i] + 1; break end
  end
  id = string.char(unpack(d))
  if i == 0 then id = '1' .. id end
  if #id > #maxId or (#id == #maxId and id > maxId) then
    -- every ID the counter passed and that was released since is at most lastrel old
    id = '1'
    guard = tonumber(st[2] or '0') + delay
    wrapped, everWrapped = true, true
  end
  local ended = everWrapped and redis.call('ZSCORE', KEYS[2], id)
  local free
  if ended then free = tonumber(ended) <= stale else free = now >= guard end
  if free then
    local exp = now + ttl
    redis.call('HSET', KEYS[1], id, string.format(${RECORD}, token, ttl, now, exp))
    redis.call('ZADD', KEYS[2], exp, id)
    if wrapped then
      redis.call('HSET', KEYS[3], 'next', id, 'lastrel', 0, 'guard', string.format('%d', guard))
    else
      redis.call('HSET', KEYS[3], 'next', id)
    end
    return id .. ' ' .. string.format('%d', now)
  end
  -- while the guard holds, no ID outside ends is free: stop looking (the wrap is kept for the next call)
  if not ended then break end
end
if wrapped then redis.call('HSET', KEYS[3], 'next', '0', 'lastrel', 0, 'guard', string.format('%d', guard)) end
return {'EXHAUSTED', maxTries}
`;

/** KEYS: leases ends. ARGV: id token ttl. → now (expiresAt is now + ttl) | {'NOT_HELD'} | {'EXPIRED', expiresAt} */
export const RENEW = `${NOW}
local id, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[1], id)
if not v then return {'NOT_HELD'} end
local tok, acq, exp = string.match(v, '^(%S+) %d+ (%d+) (%d+)$')
if tok ~= token then return {'NOT_HELD'} end
exp = tonumber(exp)
if exp <= now then return {'EXPIRED', exp} end
exp = now + ttl
redis.call('HSET', KEYS[1], id, string.format(${RECORD}, token, ttl, tonumber(acq), exp))
redis.call('ZADD', KEYS[2], exp, id)
return now
`;

/**
 * KEYS: leases ends state released releasedBefore. ARGV: id token.
 * → releasedAt | {'NOT_HELD'} | {'EXPIRED', expiresAt}.
 *
 * A release is remembered (token → release time) so that the same release repeated is answered OK even after the
 * ID went to someone else: a client resends a command whose reply a dropped connection lost, and that release did
 * happen. The memory is two hashes of one generation each: \`released\` takes this generation's releases, and
 * once it is \`remember\` ms old (state \`relgen\`) it becomes \`releasedBefore\`, whose own releases are dropped
 * (UNLINK: freed off Redis' main thread). A release is so remembered for at least \`remember\` ms, usually under twice
 * that (a generation turns over only at a release, so a model that stops releasing keeps its last two). Why not
 * a key per release with a TTL: at thousands of releases a second, creating those keys and Redis' active expiry of
 * them took 10-25% of Redis' CPU per acquire+release (bench:cid, docs/benchmarks.md).
 */
export const RELEASE = `${NOW}
local id, token, remember = ARGV[1], ARGV[2], ${RELEASE_MEMORY_MS}
local v = redis.call('HGET', KEYS[1], id)
local tok, exp
if v then tok, exp = string.match(v, '^(%S+) %d+ %d+ (%d+)$') end
if tok ~= token then
  local gone = redis.call('HGET', KEYS[4], token) or redis.call('HGET', KEYS[5], token)
  if gone then return tonumber(gone) end
  return {'NOT_HELD'}
end
exp = tonumber(exp)
if exp <= now then return {'EXPIRED', exp} end
redis.call('HDEL', KEYS[1], id)
local st = redis.call('HMGET', KEYS[3], 'next', 'relgen', 'lastrel')
local nxt, gen = st[1] or '0', tonumber(st[2] or '0')
if now - gen >= remember then
  redis.call('UNLINK', KEYS[5])
  if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[5]) end
  redis.call('HSET', KEYS[3], 'relgen', string.format('%d', now))
end
if #id < #nxt or (#id == #nxt and id <= nxt) then
  -- behind the counter: reached again only after a wraparound, which the guard covers
  redis.call('ZREM', KEYS[2], id)
  -- written once per millisecond at most: releases in the same millisecond leave it as it is
  if tonumber(st[3] or '0') < now then redis.call('HSET', KEYS[3], 'lastrel', string.format('%d', now)) end
else
  redis.call('ZADD', KEYS[2], now, id)
end
redis.call('HSET', KEYS[4], token, string.format('%d', now))
return now
`;

/** KEYS: leases. → {now, id1, value1, ...} of the live leases (read-only). */
export const LIST = `${NOW}
local out = {now}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], ' (%d+)$'))
  if exp > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`;
