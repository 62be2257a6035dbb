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
 * - `released:<token>` (string, expiring): the release time of a released lease, kept {@link RELEASE_MEMORY_MS}.
 *
 * Why releases behind the counter are not recorded one by one: the counter only reaches them again after wrapping
 * around, and at that moment every such release is at most `lastrel` old, so `guard = lastrel + reuseDelay` covers
 * them all. That keeps `ends` as small as the set of live leases (plus releases ahead of the counter, which exist
 * only after a wraparound) instead of one entry per release of the last `reuseDelay`. The price: after a
 * wraparound, acquire waits (MSB_CID_EXHAUSTED) until the guard passes, at most `reuseDelay` once per pass.
 *
 * Times are Redis server milliseconds from `TIME`, never a client clock. Scripts are replicated (Redis >= 5) and
 * written to the AOF as their effects (the HSET/ZADD/SET with the literal times and IDs), so a replay after a
 * restart rebuilds exactly the acknowledged state. Each script makes as few calls as it can: their cost inside
 * Redis is what bounds throughput.
 */

/** How long a release is remembered, so that the same release repeated (resent after a reconnect) is answered OK. */
export const RELEASE_MEMORY_MS = 60_000;

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function parse(v)
  local tok, ttl, acq, exp = string.match(v, '^(%S+) (%d+) (%d+) (%d+)$')
  return tok, tonumber(ttl), tonumber(acq), tonumber(exp)
end
local function enc(tok, ttl, acq, exp)
  return tok .. ' ' .. string.format('%d', ttl) .. ' ' .. string.format('%d', acq) .. ' ' .. string.format('%d', exp)
end
`;

/**
 * KEYS: leases ends state. ARGV: token ttl reuseDelay cap maxId maxTries.
 * → {'OK', id, now, expiresAt} | {'CAP', live} | {'EXHAUSTED', tries}
 */
export const ACQUIRE = `${PRELUDE}
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
local function incr(s)
  local d = {string.byte(s, 1, -1)}
  local i = #d
  while i >= 1 do
    if d[i] == 57 then d[i] = 48; i = i - 1 else d[i] = d[i] + 1; break end
  end
  local r = string.char(unpack(d))
  if i == 0 then r = '1' .. r end
  return r
end
local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end
local st = redis.call('HMGET', KEYS[3], 'next', 'lastrel', 'guard')
local id, guard = st[1] or '0', tonumber(st[3] or '0')
local wrapped = false
for try = 1, maxTries do
  id = incr(id)
  if not le(id, maxId) then
    -- every ID the counter passed and that was released since is at most lastrel old
    id = '1'
    guard = tonumber(st[2] or '0') + delay
    wrapped = true
  end
  local ended = redis.call('ZSCORE', KEYS[2], id)
  local free
  if ended then free = tonumber(ended) <= stale else free = now >= guard end
  if free then
    local exp = now + ttl
    redis.call('HSET', KEYS[1], id, enc(token, ttl, now, exp))
    redis.call('ZADD', KEYS[2], exp, id)
    if wrapped then
      redis.call('HSET', KEYS[3], 'next', id, 'lastrel', 0, 'guard', string.format('%d', guard))
    else
      redis.call('HSET', KEYS[3], 'next', id)
    end
    return {'OK', id, now, exp}
  end
  -- while the guard holds, no ID outside ends is free: stop looking (the wrap is kept for the next call)
  if not ended then break end
end
if wrapped then redis.call('HSET', KEYS[3], 'next', '0', 'lastrel', 0, 'guard', string.format('%d', guard)) end
return {'EXHAUSTED', maxTries}
`;

/** KEYS: leases ends. ARGV: id token ttl. → {'OK', now, expiresAt} | {'NOT_HELD'} | {'EXPIRED', expiresAt} */
export const RENEW = `${PRELUDE}
local id, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[1], id)
if not v then return {'NOT_HELD'} end
local tok, _, acq, exp = parse(v)
if tok ~= token then return {'NOT_HELD'} end
if exp <= now then return {'EXPIRED', exp} end
exp = now + ttl
redis.call('HSET', KEYS[1], id, enc(token, ttl, acq, exp))
redis.call('ZADD', KEYS[2], exp, id)
return {'OK', now, exp}
`;

/**
 * KEYS: leases ends tombstone state. ARGV: id token remember.
 * → {'OK', releasedAt} | {'NOT_HELD'} | {'EXPIRED', expiresAt}.
 * The tombstone (a key named after the token, expiring after \`remember\` ms) answers a repeated release OK even after
 * the ID went to someone else: a client resends a command whose reply a dropped connection lost, and that release
 * did happen.
 */
export const RELEASE = `${PRELUDE}
local id, token, remember = ARGV[1], ARGV[2], tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[1], id)
local tok, _, _, exp
if v then tok, _, _, exp = parse(v) end
if tok ~= token then
  local gone = redis.call('GET', KEYS[3])
  if gone then return {'OK', tonumber(gone)} end
  return {'NOT_HELD'}
end
if exp <= now then return {'EXPIRED', exp} end
redis.call('HDEL', KEYS[1], id)
local nxt = redis.call('HGET', KEYS[4], 'next') or '0'
if #id < #nxt or (#id == #nxt and id <= nxt) then
  -- behind the counter: reached again only after a wraparound, which the guard covers
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[4], 'lastrel', now)
else
  redis.call('ZADD', KEYS[2], now, id)
end
redis.call('SET', KEYS[3], now, 'PX', remember)
return {'OK', now}
`;

/** KEYS: leases. → {now, id1, value1, ...} of the live leases (read-only). */
export const LIST = `${PRELUDE}
local out = {now}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local _, _, _, exp = parse(all[i + 1])
  if exp > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`;
