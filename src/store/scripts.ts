/**
 * The Lua scripts of RedisStore: one per method that writes, so each is one atomic round trip. Domain time
 * comes from ARGV (the caller's clock), and TTLs are set relative to it (PEXPIRE, never PEXPIREAT), so a
 * test clock far from real time still gives sane TTLs. Family keys other than the one in KEYS are built
 * from a prefix in ARGV; they share the user's hash tag, so they stay in the same slot.
 *
 * Every script that writes first checks two things and writes nothing when either fails, so a script
 * never stops half-way (Redis does not roll back what a failed script already wrote):
 * - its deadline (ARGV[1]), against Redis's own TIME: a script that waited in a stalled Redis past the
 *   moment its caller gave up (and answered 503) must not act when Redis wakes, or the client's retry
 *   would find its token already rotated and be taken for a thief;
 * - the types of the keys it will write (a foreign value under our prefix is WRONGTYPE before anything
 *   is written, not after).
 */

/**
 * Refuses the script when Redis's clock is past `deadline` (epoch ms by Redis's clock; 0: none). The
 * reply starts with LATE, which RedisStore counts as "the store cannot serve".
 */
const GUARDS = `
local function check_deadline(deadline)
  deadline = tonumber(deadline)
  if deadline and deadline > 0 then
    local t = redis.call('TIME')
    local nowR = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if nowR > deadline then return redis.error_reply('LATE the caller gave up on this command') end
  end
  return nil
end
local function check_types(...)
  local want = {...}
  for i = 1, #want, 2 do
    local t = redis.call('TYPE', want[i]).ok
    if t ~= 'none' and t ~= want[i + 1] then
      return redis.error_reply('WRONGTYPE ' .. want[i + 1] .. ' expected under a key of ours')
    end
  end
  return nil
end`;

/** Integer milliseconds as a string: tostring() would switch to exponent notation past 14 digits. */
const INT = `local function int(n) return string.format('%d', n) end`;

/**
 * The user's sessions: a sorted set of family ids scored by each family's expiry (ms), so the ended ones
 * are one range below now and the one closest to its end is rank 0. It never holds more than the
 * session cap, which bounds every script that walks it. Kept compact (listpack) by Redis up to 128
 * members. Its TTL outlives the longest family; one just created by ZADD has none (PTTL -1).
 */
const SESSIONS = `
local function extend_sessions(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end`;

/**
 * The user record is a hash: k (session_key, as RedisStore encodes it), u (unionid, absent: none),
 * f and l (first and last login, ms). Every value stays within 64 bytes, so Redis keeps the hash in
 * its compact listpack encoding (a longer one converts it to a table twice the size); RedisStore stores
 * a sealed session_key as its bytes for that reason. One-letter names: each letter saved is a byte per
 * user, and four of them put the record in a smaller allocation.
 */
const USER = `
local function user_unionid(key)
  local uid = redis.call('HGET', key, 'u')
  if uid and uid ~= '' then return uid end
  return false
end`;

/**
 * A family is one string, packed (big-endian), 121 bytes once rotated instead of a hash of six fields
 * (2.3 times that in Redis):
 *   exp ms (8) | abs ms (8, -1: none) | rot ms (8, -1: never rotated) | cur (32) | prev (32) | succ (rest)
 * `cur` and `prev` are raw SHA-256 digests; `succ` is the successor seed as RedisStore encodes it.
 * A login writes only the first 56 bytes.
 */
const FAMILY = `
local function read_family(key)
  local f = redis.pcall('GET', key)
  if type(f) ~= 'string' or #f < 56 then return nil end
  local exp, abs, rot = struct.unpack('>i8i8i8', f)
  return { exp = exp, abs = abs, rot = rot, cur = string.sub(f, 25, 56), prev = string.sub(f, 57, 88), succ = string.sub(f, 89) }
end
local function family_header(exp, abs, rot) return struct.pack('>i8i8i8', exp, abs, rot) end`;

/**
 * KEYS: user, sessions, family.
 * ARGV: deadline, now, sessionKey, unionid ('' for none), familyId, tokenHash (32 bytes), exp, abs ('' for
 * none), family key prefix, session cap.
 * Ends the user's expired sessions, then as many of the others as keep the user within the cap (the one
 * closest to its end first), then opens the new one. Answers {isNew (1/0), sessions ended to keep the cap}.
 */
export const RECORD_LOGIN = `${INT}${GUARDS}${SESSIONS}${FAMILY}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash', KEYS[2], 'zset', KEYS[3], 'string')
if refused then return refused end
local now = tonumber(ARGV[2])
local exp = tonumber(ARGV[7])
local cap = tonumber(ARGV[10])
local isNew = redis.call('HSETNX', KEYS[1], 'f', ARGV[2])
redis.call('HSET', KEYS[1], 'k', ARGV[3], 'l', ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[4]) end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local evicted = 0
if redis.call('ZCARD', KEYS[2]) >= cap then
  -- At the cap, first forget families whose key is gone already (evicted by a maxmemory policy).
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[9] .. member) == 0 then redis.call('ZREM', KEYS[2], member) end
  end
  local over = redis.call('ZCARD', KEYS[2]) - cap + 1
  if over > 0 then
    for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
      redis.call('DEL', ARGV[9] .. member)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
    evicted = over
  end
end

local abs = -1
if ARGV[8] ~= '' then abs = tonumber(ARGV[8]) end
local ttl = math.max(exp - now, 1)
redis.call('SET', KEYS[3], family_header(exp, abs, -1) .. ARGV[6], 'PX', int(ttl))
redis.call('ZADD', KEYS[2], int(exp), ARGV[5])
extend_sessions(KEYS[2], ttl)
return {isNew, evicted}
`;

/**
 * KEYS: family, sessions, user.
 * ARGV: deadline, now, presentedHash, nextHash (32 bytes), successorSeed, refreshTtl ms, grace ms, familyId.
 * Answers {'rotated', exp, uid|false}, {'grace', succ, exp, uid|false}, {'reused'} or {'invalid'}.
 */
export const ROTATE_REFRESH = `${INT}${GUARDS}${SESSIONS}${USER}${FAMILY}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string', KEYS[2], 'zset', KEYS[3], 'hash')
if refused then return refused end
local now = tonumber(ARGV[2])
local f = read_family(KEYS[1])
if not f or f.exp <= now then return {'invalid'} end
if ARGV[3] == f.cur then
  local nextExp = now + tonumber(ARGV[6])
  if f.abs >= 0 and f.abs < nextExp then nextExp = f.abs end
  local ttl = math.max(nextExp - now, 1)
  redis.call('SET', KEYS[1], family_header(nextExp, f.abs, now) .. ARGV[4] .. f.cur .. ARGV[5], 'PX', int(ttl))
  redis.call('ZADD', KEYS[2], int(nextExp), ARGV[8])
  extend_sessions(KEYS[2], ttl)
  return {'rotated', int(nextExp), user_unionid(KEYS[3])}
end

if f.prev ~= '' and ARGV[3] == f.prev and f.rot >= 0 and now < f.rot + tonumber(ARGV[7]) then
  return {'grace', f.succ, int(f.exp), user_unionid(KEYS[3])}
end

redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[8])
return {'reused'}
`;

/**
 * KEYS: family, sessions. ARGV: deadline, tokenHash (32 bytes), familyId.
 * Answers 1 when the family was ended, else 0.
 */
export const END_FAMILY = `${GUARDS}${FAMILY}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string', KEYS[2], 'zset')
if refused then return refused end
local f = read_family(KEYS[1])
if f and (ARGV[2] == f.cur or (f.prev ~= '' and ARGV[2] == f.prev)) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 1
end
return 0
`;

/**
 * KEYS: sessions. ARGV: deadline, family key prefix.
 * Answers how many family keys existed. Bounded: the set holds at most the session cap.
 */
export const END_ALL_FAMILIES = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'zset')
if refused then return refused end
local ended = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  ended = ended + redis.call('DEL', ARGV[2] .. member)
end
redis.call('DEL', KEYS[1])
return ended
`;

/**
 * KEYS: the access-token key. ARGV: token.
 * Deletes the key only when its value (`<expiresAtMs>:<token>`) holds that token. Answers 1 when deleted.
 */
export const INVALIDATE_ACCESS_TOKEN = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local colon = string.find(value, ':', 1, true)
if colon and string.sub(value, colon + 1) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** KEYS: the lock key. ARGV: owner. Deletes the key only when the owner holds it. Answers 1 when deleted. */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * Claim of a login code. KEYS[1] = the code's key. ARGV: deadline, ttl ms. Answers the known value (''
 * pending, else the sealed result), or false after claiming it (value ''). A claim made after its caller
 * gave up would hold the code for nobody: the retry would wait for it.
 */
export const CLAIM_LOGIN_CODE = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string')
if refused then return refused end
local known = redis.call('GET', KEYS[1])
if known then return known end
redis.call('SET', KEYS[1], '', 'PX', tonumber(ARGV[2]))
return false
`;

/**
 * KEYS: the lock key. ARGV: deadline, owner, ttl ms. SET NX PX unless late (a lock taken for a caller
 * that gave up would keep every other instance waiting for its TTL). Answers 1 when taken.
 */
export const ACQUIRE_LOCK = `${GUARDS}
local refused = check_deadline(ARGV[1])
if refused then return refused end
if redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]), 'NX') then return 1 end
return 0
`;

/** Release of a pending claim only (a result already recorded stays). KEYS[1] = the code's key. */
export const RELEASE_LOGIN_CODE = `
if redis.call('GET', KEYS[1]) == '' then redis.call('DEL', KEYS[1]) end
return 0
`;
