/**
 * The Lua scripts behind {@link CorrelationIds}. Every state change happens inside one script, so Redis runs the
 * read (is this ID free? does this token hold it?) and the write as one atomic step: there is no window between
 * them for another client.
 *
 * Keys of one model (all share the hash tag `{model}`, so a cluster keeps them on one slot):
 * - `leases` (hash): ID → `token ttl acquiredAt expiresAt state` (`L` live, `R` released). An entry stays until the
 *   ID's quarantine ends.
 * - `released:<token>` (string, expiring): the release time of a released lease, kept {@link RELEASE_MEMORY_MS}.
 * - `live` (sorted set): ID → expiresAt, for the cap (expired members are trimmed before counting).
 * - `busy` (sorted set): ID → the server time before which the ID must not be handed out again: expiresAt +
 *   reuseDelay for a live lease, releasedAt + reuseDelay for a released one.
 * - `next` (string): the last ID handed out, as decimal text (Lua numbers are doubles: no INCR arithmetic, so IDs
 *   stay exact up to 2^64-1).
 *
 * Times are Redis server milliseconds from `TIME`, never a client clock. Scripts are replicated (Redis >= 5) and written to the
 * AOF as their effects (the ZADD/HSET/SET with the literal times and IDs), so a replay after a restart rebuilds
 * exactly the acknowledged state.
 */

/** How long a release is remembered, so that the same release repeated (resent after a reconnect) is answered OK. */
export const RELEASE_MEMORY_MS = 60_000;

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function parse(v)
  local tok, ttl, acq, exp, st = string.match(v, '^(%S+) (%d+) (%d+) (%d+) (%a)$')
  return tok, tonumber(ttl), tonumber(acq), tonumber(exp), st
end
local function enc(tok, ttl, acq, exp, st)
  return tok .. ' ' .. string.format('%d', ttl) .. ' ' .. string.format('%d', acq) .. ' ' ..
    string.format('%d', exp) .. ' ' .. st
end
`;

/** KEYS: leases live busy next. ARGV: token ttl reuseDelay cap maxId maxTries. → {'OK', id, now, expiresAt} | {'CAP', live} | {'EXHAUSTED', tries} */
export const ACQUIRE = `${PRELUDE}
local token, ttl, delay, cap, maxId, maxTries = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
-- IDs whose quarantine is over are forgotten (bounded per call; the rest go on the next calls)
local done = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
if #done > 0 then
  redis.call('ZREM', KEYS[3], unpack(done))
  redis.call('HDEL', KEYS[1], unpack(done))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if cap > 0 then
  local live = redis.call('ZCARD', KEYS[2])
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
local id = redis.call('GET', KEYS[4]) or '0'
for try = 1, maxTries do
  id = incr(id)
  if not le(id, maxId) then id = '1' end
  local until_ = redis.call('ZSCORE', KEYS[3], id)
  if not until_ or tonumber(until_) <= now then
    local exp = now + ttl
    redis.call('HSET', KEYS[1], id, enc(token, ttl, now, exp, 'L'))
    redis.call('ZADD', KEYS[2], exp, id)
    redis.call('ZADD', KEYS[3], exp + delay, id)
    redis.call('SET', KEYS[4], id)
    return {'OK', id, now, exp}
  end
end
return {'EXHAUSTED', maxTries}
`;

/** KEYS: leases live busy. ARGV: id token ttl reuseDelay. → {'OK', now, expiresAt} | {'NOT_HELD'} | {'EXPIRED', expiresAt} */
export const RENEW = `${PRELUDE}
local id, token, ttl, delay = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HGET', KEYS[1], id)
if not v then return {'NOT_HELD'} end
local tok, _, acq, exp, st = parse(v)
if tok ~= token or st ~= 'L' then return {'NOT_HELD'} end
if exp <= now then return {'EXPIRED', exp} end
exp = now + ttl
redis.call('HSET', KEYS[1], id, enc(token, ttl, acq, exp, 'L'))
redis.call('ZADD', KEYS[2], exp, id)
redis.call('ZADD', KEYS[3], exp + delay, id)
return {'OK', now, exp}
`;

/**
 * KEYS: leases live busy tombstone. ARGV: id token reuseDelay remember. → {'OK', releasedAt} | {'NOT_HELD'} |
 * {'EXPIRED', expiresAt}. The tombstone (a key named after the token, expiring after \`remember\` ms) answers a
 * repeated release OK even after the ID's record is gone or the ID went to someone else: a client resends a command
 * whose reply a dropped connection lost, and that release did happen.
 */
export const RELEASE = `${PRELUDE}
local id, token, delay, remember = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local gone = redis.call('GET', KEYS[4])
if gone then return {'OK', tonumber(gone)} end
local v = redis.call('HGET', KEYS[1], id)
if not v then return {'NOT_HELD'} end
local tok, ttl, acq, exp, st = parse(v)
if tok ~= token or st ~= 'L' then return {'NOT_HELD'} end
if exp <= now then return {'EXPIRED', exp} end
redis.call('HSET', KEYS[1], id, enc(token, ttl, acq, now, 'R'))
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], now + delay, id)
redis.call('SET', KEYS[4], now, 'PX', remember)
return {'OK', now}
`;

/** KEYS: leases. → {now, id1, value1, ...} of the live leases (read-only). */
export const LIST = `${PRELUDE}
local out = {now}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local _, _, _, exp, st = parse(all[i + 1])
  if st == 'L' and exp > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`;
