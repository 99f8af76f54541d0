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
 * KEYS: user, families, family.
 * ARGV: now, sessionKey, unionid ('' for none), familyId, tokenHash, exp, abs ('' for none), family key prefix.
 * Answers 1 when the user record is new, else 0.
 */
export const RECORD_LOGIN = `${INT}${EXTEND_FAMILIES}
local now = tonumber(ARGV[1])
local exp = tonumber(ARGV[6])
local isNew = redis.call('HSETNX', KEYS[1], 'fl', ARGV[1])
redis.call('HSET', KEYS[1], 'sk', ARGV[2], 'll', ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'uid', ARGV[3]) end

redis.call('DEL', KEYS[3])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[3], 'cur', ARGV[5], 'exp', ARGV[6], 'abs', ARGV[7])
else
  redis.call('HSET', KEYS[3], 'cur', ARGV[5], 'exp', ARGV[6])
end
local ttl = math.max(exp - now, 1)
redis.call('PEXPIRE', KEYS[3], int(ttl))

for _, member in ipairs(redis.call('HKEYS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[8] .. member) == 0 then redis.call('HDEL', KEYS[2], member) end
end
redis.call('HSET', KEYS[2], ARGV[4], '1')
extend_families(KEYS[2], ttl)
return isNew
`;

/**
 * KEYS: family, families, user.
 * ARGV: now, presentedHash, nextHash, successorSeed, refreshTtl ms, grace ms, familyId.
 * Answers {'rotated', exp, uid|false}, {'grace', succ, exp, uid|false}, {'reused'} or {'invalid'}.
 */
export const ROTATE_REFRESH = `${INT}${EXTEND_FAMILIES}
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'rot', 'succ', 'exp', 'abs')
local cur, prev, rot, succ, exp, abs = f[1], f[2], f[3], f[4], tonumber(f[5]), f[6]
if not cur or not exp or exp <= now then return {'invalid'} end

if ARGV[2] == cur then
  local nextExp = now + tonumber(ARGV[5])
  if abs and tonumber(abs) < nextExp then nextExp = tonumber(abs) end
  redis.call('HSET', KEYS[1], 'prev', cur, 'cur', ARGV[3], 'rot', ARGV[1], 'succ', ARGV[4], 'exp', int(nextExp))
  local ttl = math.max(nextExp - now, 1)
  redis.call('PEXPIRE', KEYS[1], int(ttl))
  redis.call('HSET', KEYS[2], ARGV[7], '1')
  extend_families(KEYS[2], ttl)
  return {'rotated', int(nextExp), redis.call('HGET', KEYS[3], 'uid')}
end

if prev and ARGV[2] == prev and rot and now < tonumber(rot) + tonumber(ARGV[6]) then
  return {'grace', succ, int(exp), redis.call('HGET', KEYS[3], 'uid')}
end

redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[7])
return {'reused'}
`;

/**
 * KEYS: family, families. ARGV: tokenHash, familyId.
 * Answers 1 when the family was ended, else 0.
 */
export const END_FAMILY = `
local f = redis.call('HMGET', KEYS[1], 'cur', 'prev')
if (f[1] and f[1] == ARGV[1]) or (f[2] and f[2] == ARGV[1]) then
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
