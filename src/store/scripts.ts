/**
 * The Lua scripts of RedisStore: one per method that writes, so each is one atomic round trip. Time comes
 * from ARGV (the caller's clock), never from Redis TIME, and TTLs are set relative to it (PEXPIRE, never
 * PEXPIREAT), so a test clock far from real time still gives sane TTLs. Family keys other than the one in
 * KEYS are built from a prefix in ARGV; they share the user's hash tag, so they stay in the same slot.
 */

/** Integer milliseconds as a string: tostring() would switch to exponent notation past 14 digits. */
const INT = `local function int(n) return string.format('%d', n) end`;

/**
 * Makes the families hash outlive `ttl` ms at least; one just created by HSET has no TTL (PTTL -1).
 */
const EXTEND_FAMILIES = `
local function extend_families(key, ttl)
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
 * KEYS: user, families, family.
 * ARGV: now, sessionKey, unionid ('' for none), familyId, tokenHash (32 bytes), exp, abs ('' for none),
 * family key prefix.
 * Answers 1 when the user record is new, else 0.
 */
export const RECORD_LOGIN = `${INT}${EXTEND_FAMILIES}${USER}${FAMILY}
local now = tonumber(ARGV[1])
local exp = tonumber(ARGV[6])
local isNew = redis.call('HSETNX', KEYS[1], 'f', ARGV[1])
redis.call('HSET', KEYS[1], 'k', ARGV[2], 'l', ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[3]) end

local abs = -1
if ARGV[7] ~= '' then abs = tonumber(ARGV[7]) end
local ttl = math.max(exp - now, 1)
redis.call('SET', KEYS[3], family_header(exp, abs, -1) .. ARGV[5], 'PX', int(ttl))

for _, member in ipairs(redis.call('HKEYS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[8] .. member) == 0 then redis.call('HDEL', KEYS[2], member) end
end
redis.call('HSET', KEYS[2], ARGV[4], '1')
extend_families(KEYS[2], ttl)
return isNew
`;

/**
 * KEYS: family, families, user.
 * ARGV: now, presentedHash, nextHash (32 bytes), successorSeed, refreshTtl ms, grace ms, familyId.
 * Answers {'rotated', exp, uid|false}, {'grace', succ, exp, uid|false}, {'reused'} or {'invalid'}.
 */
export const ROTATE_REFRESH = `${INT}${EXTEND_FAMILIES}${USER}${FAMILY}
local now = tonumber(ARGV[1])
local f = read_family(KEYS[1])
if not f or f.exp <= now then return {'invalid'} end
if ARGV[2] == f.cur then
  local nextExp = now + tonumber(ARGV[5])
  if f.abs >= 0 and f.abs < nextExp then nextExp = f.abs end
  local ttl = math.max(nextExp - now, 1)
  redis.call('SET', KEYS[1], family_header(nextExp, f.abs, now) .. ARGV[3] .. f.cur .. ARGV[4], 'PX', int(ttl))
  redis.call('HSET', KEYS[2], ARGV[7], '1')
  extend_families(KEYS[2], ttl)
  return {'rotated', int(nextExp), user_unionid(KEYS[3])}
end

if f.prev ~= '' and ARGV[2] == f.prev and f.rot >= 0 and now < f.rot + tonumber(ARGV[6]) then
  return {'grace', f.succ, int(f.exp), user_unionid(KEYS[3])}
end

redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[7])
return {'reused'}
`;

/**
 * KEYS: family, families. ARGV: tokenHash (32 bytes), familyId.
 * Answers 1 when the family was ended, else 0.
 */
export const END_FAMILY = `${FAMILY}
local f = read_family(KEYS[1])
if f and (ARGV[1] == f.cur or (f.prev ~= '' and ARGV[1] == f.prev)) then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

/**
 * KEYS: families. ARGV: family key prefix.
 * Answers how many family keys existed.
 */
export const END_ALL_FAMILIES = `
local ended = 0
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. member)
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
 * Claim of a login code. KEYS[1] = the code's key. ARGV: ttl ms. Answers the known value ('' pending,
 * else the sealed result), or false after claiming it (value '').
 */
export const CLAIM_LOGIN_CODE = `
local known = redis.call('GET', KEYS[1])
if known then return known end
redis.call('SET', KEYS[1], '', 'PX', tonumber(ARGV[1]))
return false
`;

/** Release of a pending claim only (a result already recorded stays). KEYS[1] = the code's key. */
export const RELEASE_LOGIN_CODE = `
if redis.call('GET', KEYS[1]) == '' then redis.call('DEL', KEYS[1]) end
return 0
`;
