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
 * (LOG_REVOCATIONS alone carries no deadline: logging a revocation late does no harm.)
 */

/**
 * Refuses the script when Redis's clock is past `deadline` (epoch ms by Redis's clock; 0: none). The
 * reply starts with LATE, which RedisStore counts as "the store cannot serve".
 */
export const GUARDS = `
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
export const INT = `local function int(n) return string.format('%d', n) end`;

/**
 * The user's sessions (layout: USER_KEY_LAYOUT.sessions in keys.ts). Scored by expiry, the ended ones
 * are one range below now and the one closest to its end is rank 0. It never holds more than the
 * session cap, which bounds every script that walks it; Redis keeps it compact (listpack) up to 128
 * members. One just created by ZADD has no TTL (PTTL -1), which extend_sessions takes as too short.
 */
const SESSIONS = `
local function extend_sessions(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end`;

/**
 * The user record (layout: USER_KEY_LAYOUT.user in keys.ts). Every value stays within 64 bytes, so Redis
 * keeps the hash in its compact listpack encoding (a longer one converts it to a table twice the size);
 * RedisStore stores a sealed session_key as its bytes for that reason. One-letter field names: each
 * letter saved is a byte per user, and four of them put the record in a smaller allocation.
 */
const USER = `
local function user_unionid(key)
  local uid = redis.call('HGET', key, 'u')
  if uid and uid ~= '' then return uid end
  return false
end
local function user_app(key)
  local app = redis.call('HGET', key, 'a')
  if app and app ~= '' then return app end
  return false
end
-- 1 when the identity has a unionid that its person's index (another slot) has not been told of: the
-- caller links it there and then marks it (field x), so a link that failed half-way is tried again.
local function user_unlinked(key)
  local uid = redis.call('HGET', key, 'u')
  if uid and uid ~= '' and redis.call('HGET', key, 'x') ~= uid then return 1 end
  return 0
end`;

/**
 * A family (layout: USER_KEY_LAYOUT.family in keys.ts) is one packed string rather than a hash of eight
 * fields, which takes more than twice the memory in Redis; its times are 6-byte ms (enough until the
 * year 6400), which keeps a rotated family without a device within Redis's 128-byte allocation.
 * read_family tells the layouts by the first byte. Layout 1 has 26 bytes before the device (the layout
 * byte, four 6-byte times, the device's length), so cur starts at byte 27 + dlen (Lua counts from 1)
 * and anything shorter than 58 bytes is no family; layout 0 has three 8-byte times, then cur at byte 25.
 * succ is the rest, whatever RedisStore put there; a family never rotated has no prev or succ, read as
 * ''. Every script that rewrites a family writes it in layout 1 (family_header), whichever it read.
 */
const FAMILY = `
local function read_family(key)
  local f = redis.pcall('GET', key)
  if type(f) ~= 'string' then return nil end
  if string.byte(f, 1) == 1 then
    if #f < 58 then return nil end
    local _, exp, abs, rot, crt, dlen = struct.unpack('>Bi6i6i6i6B', f)
    local c = 27 + dlen
    if #f < c + 31 then return nil end
    return { exp = exp, abs = abs, rot = rot, crt = crt, dev = string.sub(f, 27, c - 1),
      cur = string.sub(f, c, c + 31), prev = string.sub(f, c + 32, c + 63), succ = string.sub(f, c + 64) }
  end
  if #f < 56 then return nil end
  local exp, abs, rot = struct.unpack('>i8i8i8', f)
  return { exp = exp, abs = abs, rot = rot, crt = -1, dev = '',
    cur = string.sub(f, 25, 56), prev = string.sub(f, 57, 88), succ = string.sub(f, 89) }
end
local function family_header(exp, abs, rot, crt, dev)
  return struct.pack('>Bi6i6i6i6B', 1, exp, abs, rot, crt, #dev) .. dev
end`;

/**
 * The user's ended families not yet in the app-wide revocation log (layout: USER_KEY_LAYOUT.revoked in
 * keys.ts). `revoke` records what an ending script ended, scored by the real clock of the instance that
 * ended it (not the caller's domain clock), trims the set to the revocation window (how long an access
 * token they issued may live) and to the newest REVOKED_MAX, tells every instance at once (PUBLISH; in a
 * Cluster it reaches every node) and answers the set: what RedisStore then adds to the log (another
 * slot, so another round trip), and takes out of the set once logged. When that second step fails, the
 * ids stay here, and the user's next ending (a retry, finding nothing left to end, as well) answers
 * them again. An ending that ends nothing while nothing waits writes nothing and answers nothing.
 * An ending script's last three ARGV (the revocation arguments) are: now by the real clock (ms), the
 * revocation window (ms), the channel.
 */
const REVOKED = `
local REVOKED_MAX = 256
local function revoke(key, ids, now, keep, channel)
  if #ids == 0 and redis.call('EXISTS', key) == 0 then return {} end
  if #ids > 0 then
    for _, id in ipairs(ids) do redis.call('ZADD', key, int(now), id) end
    redis.call('PUBLISH', channel, '- ' .. table.concat(ids, ' '))
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. int(now - keep))
  local over = redis.call('ZCARD', key) - math.max(REVOKED_MAX, #ids)
  if over > 0 then redis.call('ZREMRANGEBYRANK', key, 0, over - 1) end
  if #ids > 0 then redis.call('PEXPIRE', key, int(math.max(keep, 1))) end
  return redis.call('ZRANGE', key, 0, -1)
end
local function end_all(sessions, prefix)
  local ids = redis.call('ZRANGE', sessions, 0, -1)
  local ended = 0
  for _, id in ipairs(ids) do ended = ended + redis.call('DEL', prefix .. id) end
  redis.call('DEL', sessions)
  return ids, ended
end`;

/**
 * KEYS: user, sessions, family, revoked, ban, the family that must be live (the new family's key when
 * none must).
 * ARGV: deadline, now, sessionKey ('' for none), unionid ('' for none), familyId, tokenHash (32 bytes),
 * exp, abs ('' for none), family key prefix, session cap, device, '1' when KEYS[6] must be live else '',
 * the identity's appid ('' for none: kept as the record has it), '1' when a code exchange without a
 * session_key (a mobile App's) may make the record, then the revocation arguments (REVOKED).
 * Refuses, before writing anything, a login without a session_key (other than such an exchange) for a
 * user without a record or one whose KEYS[6] is not live, then a banned user. Ends the user's expired sessions, then as many of the
 * others as keep the user within the cap (the one closest to its end first), then opens the new one.
 * Answers {isNew (1/0), sessions ended to keep the cap, ids to log (none when none ended), unlinked
 * (USER), the unionid the record holds now|false}, {'banned', reason|false, until|false} or {'ended'}. The appid is written once: an identity
 * belongs to one app.
 */
export const RECORD_LOGIN = `${INT}${GUARDS}${SESSIONS}${USER}${FAMILY}${REVOKED}
local refused = check_deadline(ARGV[1])
  or check_types(KEYS[1], 'hash', KEYS[2], 'zset', KEYS[3], 'string', KEYS[4], 'zset', KEYS[5], 'hash',
    KEYS[6], 'string')
if refused then return refused end
local now = tonumber(ARGV[2])
local exp = tonumber(ARGV[7])
local cap = tonumber(ARGV[10])
-- A web login (no session_key) never makes a user record: the user it was confirmed for was deleted.
if ARGV[3] == '' and ARGV[14] ~= '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {'ended'} end
if ARGV[12] == '1' then
  local required = read_family(KEYS[6])
  if not required or required.exp <= now then return {'ended'} end
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  local ban = redis.call('HMGET', KEYS[5], 'r', 'u')
  if not ban[2] or tonumber(ban[2]) > now then return {'banned', ban[1], ban[2]} end
end
local isNew = redis.call('HSETNX', KEYS[1], 'f', ARGV[2])
redis.call('HSET', KEYS[1], 'l', ARGV[2])
-- '': a session opened without a code exchange (a web login), which keeps the session_key.
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[4]) end
if ARGV[13] ~= '' then redis.call('HSETNX', KEYS[1], 'a', ARGV[13]) end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local evicted = {}
if redis.call('ZCARD', KEYS[2]) >= cap then
  -- At the cap, first forget families whose key is gone already (evicted by a maxmemory policy).
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[9] .. member) == 0 then redis.call('ZREM', KEYS[2], member) end
  end
  local over = redis.call('ZCARD', KEYS[2]) - cap + 1
  if over > 0 then
    evicted = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    for _, member in ipairs(evicted) do redis.call('DEL', ARGV[9] .. member) end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  end
end
local logged = {}
if #evicted > 0 then logged = revoke(KEYS[4], evicted, tonumber(ARGV[15]), tonumber(ARGV[16]), ARGV[17]) end

local abs = -1
if ARGV[8] ~= '' then abs = tonumber(ARGV[8]) end
local ttl = math.max(exp - now, 1)
redis.call('SET', KEYS[3], family_header(exp, abs, -1, now, ARGV[11]) .. ARGV[6], 'PX', int(ttl))
redis.call('ZADD', KEYS[2], int(exp), ARGV[5])
extend_sessions(KEYS[2], ttl)
return {isNew, #evicted, logged, user_unlinked(KEYS[1]), user_unionid(KEYS[1])}
`;

/**
 * KEYS: family, sessions, user, revoked.
 * ARGV: deadline, now, presentedHash, nextHash (32 bytes), successorSeed, refreshTtl ms, grace ms, familyId,
 * then the revocation arguments (REVOKED).
 * Answers {'rotated', exp, uid|false, appid|false, unlinked}, {'grace', succ, exp, uid|false,
 * appid|false, unlinked}, {'reused', ids to log} or {'invalid'} (unlinked: USER).
 */
export const ROTATE_REFRESH = `${INT}${GUARDS}${SESSIONS}${USER}${FAMILY}${REVOKED}
local refused = check_deadline(ARGV[1])
  or check_types(KEYS[1], 'string', KEYS[2], 'zset', KEYS[3], 'hash', KEYS[4], 'zset')
if refused then return refused end
local now = tonumber(ARGV[2])
local f = read_family(KEYS[1])
if not f or f.exp <= now then return {'invalid'} end
if ARGV[3] == f.cur then
  local nextExp = now + tonumber(ARGV[6])
  if f.abs >= 0 and f.abs < nextExp then nextExp = f.abs end
  local ttl = math.max(nextExp - now, 1)
  local header = family_header(nextExp, f.abs, now, f.crt, f.dev)
  redis.call('SET', KEYS[1], header .. ARGV[4] .. f.cur .. ARGV[5], 'PX', int(ttl))
  redis.call('ZADD', KEYS[2], int(nextExp), ARGV[8])
  extend_sessions(KEYS[2], ttl)
  return {'rotated', int(nextExp), user_unionid(KEYS[3]), user_app(KEYS[3]), user_unlinked(KEYS[3])}
end

if f.prev ~= '' and ARGV[3] == f.prev and f.rot >= 0 and now < f.rot + tonumber(ARGV[7]) then
  return {'grace', f.succ, int(f.exp), user_unionid(KEYS[3]), user_app(KEYS[3]), user_unlinked(KEYS[3])}
end

redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[8])
return {'reused', revoke(KEYS[4], {ARGV[8]}, tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11])}
`;

/**
 * KEYS: family. ARGV: presentedHash (32 bytes), rot (ms, caller's clock).
 * A rotation whose caller timed out may have run, its answer lost in the stall: once Redis answers
 * again, RedisStore moves that rotation's time to now (when `presentedHash` is still the previous
 * token), so the client's retry with the old token lands within REFRESH_REUSE_GRACE and gets the same
 * successor instead of being taken for a thief. Changes nothing else; no deadline (it is idempotent).
 * Answers 1 when it moved the time.
 */
export const RESTART_GRACE = `${INT}${FAMILY}
local f = read_family(KEYS[1])
local rot = tonumber(ARGV[2])
if not f or f.prev ~= ARGV[1] or f.rot >= rot then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
local header = family_header(f.exp, f.abs, rot, f.crt, f.dev)
redis.call('SET', KEYS[1], header .. f.cur .. f.prev .. f.succ, 'PX', ttl)
return 1
`;

/**
 * KEYS: family, sessions, revoked. ARGV: deadline, tokenHash (32 bytes), familyId, then the revocation
 * arguments (REVOKED).
 * Answers {1 when the family was ended else 0, ids to log}.
 */
export const END_FAMILY = `${INT}${GUARDS}${FAMILY}${REVOKED}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string', KEYS[2], 'zset', KEYS[3], 'zset')
if refused then return refused end
local ended = {}
local f = read_family(KEYS[1])
if f and (ARGV[2] == f.cur or (f.prev ~= '' and ARGV[2] == f.prev)) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  ended = {ARGV[3]}
end
return {#ended, revoke(KEYS[3], ended, tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])}
`;

/**
 * KEYS: family, sessions, revoked. ARGV: deadline, familyId, now, then the revocation arguments (REVOKED).
 * Ends the family whatever its tokens. Answers {1 when a live family was ended else 0, ids to log}.
 */
export const END_SESSION = `${INT}${GUARDS}${FAMILY}${REVOKED}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string', KEYS[2], 'zset', KEYS[3], 'zset')
if refused then return refused end
local now = tonumber(ARGV[3])
local ended = {}
local f = read_family(KEYS[1])
if f then
  redis.call('DEL', KEYS[1])
  if f.exp > now then ended = {ARGV[2]} end
end
redis.call('ZREM', KEYS[2], ARGV[2])
return {#ended, revoke(KEYS[3], ended, tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])}
`;

/**
 * KEYS: sessions, revoked. ARGV: deadline, family key prefix, then the revocation arguments (REVOKED).
 * Answers {how many family keys existed, ids to log}. Bounded: the set holds at most the session cap.
 * Every id in the set is revoked, its key there or not: revoking one more costs nothing.
 */
export const END_ALL_FAMILIES = `${INT}${GUARDS}${REVOKED}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'zset', KEYS[2], 'zset')
if refused then return refused end
local ids, ended = end_all(KEYS[1], ARGV[2])
return {ended, revoke(KEYS[2], ids, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])}
`;

/**
 * KEYS: user, sessions, revoked. ARGV: deadline, family key prefix, then the revocation arguments (REVOKED).
 * Deletes the user record and every family (revoked as by END_ALL_FAMILIES); the ban key is not touched.
 * Answers {1 when anything existed else 0, families ended, ids to log}. The revoked set empties as
 * RedisStore logs them (REVOKED).
 */
export const DELETE_USER = `${INT}${GUARDS}${REVOKED}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash', KEYS[2], 'zset', KEYS[3], 'zset')
if refused then return refused end
local existed = 0
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then existed = 1 end
local ids, ended = end_all(KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return {existed, ended, revoke(KEYS[3], ids, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])}
`;

/**
 * KEYS: ban, sessions, revoked. ARGV: deadline, now, reason ('' for none), until ms ('' for none), family
 * key prefix, the unionid of the person banned ('' for none), then the revocation arguments (REVOKED).
 * Replaces the ban (expiring at `until`) and ends every family. Answers {families ended, ids to log}.
 */
export const BAN_USER = `${INT}${GUARDS}${REVOKED}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash', KEYS[2], 'zset', KEYS[3], 'zset')
if refused then return refused end
local now = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'r', ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'u', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], int(math.max(tonumber(ARGV[4]) - now, 1)))
end
-- The person's: a deleted identity's ban still finds the person's ban, to lift it too.
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'p', ARGV[6]) end
local ids, ended = end_all(KEYS[2], ARGV[5])
return {ended, revoke(KEYS[3], ids, tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9])}
`;

/**
 * KEYS: sessions. ARGV: family key prefix, now.
 * Reads only. Answers {id, exp, rot, crt, device} of each live family (expiry after now).
 */
export const LIST_SESSIONS = `${INT}${FAMILY}
local now = tonumber(ARGV[2])
local live = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = read_family(ARGV[1] .. id)
  if f and f.exp > now then live[#live + 1] = {id, int(f.exp), int(f.rot), int(f.crt), f.dev} end
end
return live
`;

/**
 * KEYS: the person's identities, the person's ban (both under the unionid's hash tag).
 * ARGV: deadline, openid, appid ('' for none), now.
 * Adds the identity to its person (field: openid, value: appid) and answers the person's ban in force:
 * {1 when the identity is new to the person else 0, reason|false, until|false, set|false}.
 */
export const LINK_IDENTITY = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash', KEYS[2], 'hash')
if refused then return refused end
local added = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local ban = redis.call('HMGET', KEYS[2], 'r', 'u', 't')
if ban[3] and ban[2] and tonumber(ban[2]) <= tonumber(ARGV[4]) then ban = {false, false, false} end
return {added, ban[1], ban[2], ban[3]}
`;

/**
 * KEYS: the user record. ARGV: unionid.
 * Marks the identity as linked to that unionid's person (LINK_IDENTITY ran), unless the record has gone
 * or names another unionid meanwhile. Answers 1 when marked.
 */
export const MARK_LINKED = `
if redis.call('HGET', KEYS[1], 'u') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[1])
return 1
`;

/**
 * KEYS: the revocation log. ARGV: revocation window ms, channel, family ids.
 * Logs the ids at Redis's time, trims what is older than the window, and tells every instance (again:
 * the ending script told them already, but this message carries the log's time, from which an instance
 * that reconnects catches up). Answers that time. No deadline: logging late refuses only tokens of
 * sessions that did end.
 */
export const LOG_REVOCATIONS = `${INT}${GUARDS}
local refused = check_types(KEYS[1], 'zset')
if refused then return refused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = math.max(tonumber(ARGV[1]), 1)
local ids = {}
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], int(now), ARGV[i])
  ids[#ids + 1] = ARGV[i]
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now - keep))
redis.call('PEXPIRE', KEYS[1], int(keep))
redis.call('PUBLISH', ARGV[2], int(now) .. ' ' .. table.concat(ids, ' '))
return int(now)
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

/**
 * KEYS: the authorization request's key. ARGV: deadline. GET and DEL in one step (GETDEL, behind the
 * deadline: a take that runs after its caller gave up would spend the browser's state for nothing).
 */
export const TAKE_AUTHORIZATION_REQUEST = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'string')
if refused then return refused end
return redis.call('GETDEL', KEYS[1])
`;

/**
 * KEYS: the code's key (layout: APP_KEY_LAYOUT.authorizationCode). ARGV: deadline, grant JSON, expiry
 * ms, openid, keep ms. Replaces whatever was there (a code is 128 random bits: nothing is).
 */
export const PUT_AUTHORIZATION_CODE = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash')
if refused then return refused end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'e', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
`;

/**
 * KEYS: the code's key. ARGV: deadline, nowMs. Answers {'unknown'}, {'expired'}, {'fresh', grant JSON}
 * (marked used) or {'replayed', openid, family id or ''} (marked replayed).
 */
export const REDEEM_AUTHORIZATION_CODE = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash')
if refused then return refused end
local v = redis.call('HMGET', KEYS[1], 'g', 'e', 'o', 'u', 'f')
if not v[1] then return {'unknown'} end
if v[4] == '1' then
  redis.call('HSET', KEYS[1], 'r', '1')
  return {'replayed', v[3] or '', v[5] or ''}
end
if tonumber(ARGV[2]) >= tonumber(v[2]) then return {'expired'} end
redis.call('HSET', KEYS[1], 'u', '1')
return {'fresh', v[1]}
`;

/**
 * KEYS: the code's key. ARGV: deadline, family id. On a redeemed code, records the session it opened;
 * answers 1 when the code was presented again meanwhile.
 */
export const RECORD_CODE_SESSION = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash')
if refused then return refused end
local v = redis.call('HMGET', KEYS[1], 'u', 'r')
if v[1] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'f', ARGV[2])
if v[2] == '1' then return 1 end
return 0
`;
