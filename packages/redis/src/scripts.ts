/**
 * The Lua scripts that carry out each operation atomically in one round trip.
 *
 * Every script gets the store's fixed keys as KEYS (so Cluster routes it to the store's slot)
 * and the store's key base as ARGV[1]; per-token keys are built from that base. They live in
 * the same hash slot because the base is a hash tag, which Redis Cluster requires.
 *
 * Key layout under the base B (see README):
 *   B ids             SET of every token id          B seq            id counter (INCR)
 *   B idx:<kind>      HASH key digest -> id, for the unique keys identity, access, grant, refresh
 *   B user:<digest>   ZSET of ids of one user name (score = id length, so ZRANGE is id order)
 *   B token:<id>      HASH of the token's non-null fields, plus '#<kind>' key digests
 *   B lease:<id>      lease holder, with PX expiry
 */

/** The fixed keys, in KEYS order. */
export const FIXED_KEYS = ["ids", "seq", "idx:identity", "idx:access", "idx:grant", "idx:refresh"] as const;

const PRELUDE = `
local base = ARGV[1]
local IDS, SEQ = KEYS[1], KEYS[2]
local INDEX = { identity = KEYS[3], access = KEYS[4], grant = KEYS[5], refresh = KEYS[6] }
local UNIQUE = { 'identity', 'access', 'grant', 'refresh' }
local KINDS = { 'identity', 'user', 'access', 'grant', 'refresh' }
local function tokenKey(id) return base .. 'token:' .. id end
local function userKey(digest) return base .. 'user:' .. digest end
local function leaseKey(id) return base .. 'lease:' .. id end

local function hashOf(flat)
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- A condition is a list of {kind, value} pairs: {'id', id} or {kind, digest}; all must hold.
local function satisfies(id, condition)
  if redis.call('EXISTS', tokenKey(id)) == 0 then return false end
  for _, pair in ipairs(condition) do
    if pair[1] == 'id' then
      if id ~= pair[2] then return false end
    elseif redis.call('HGET', tokenKey(id), '#' .. pair[1]) ~= pair[2] then
      return false
    end
  end
  return true
end

-- The id the selector picks: the first condition that matches decides; within one condition
-- candidates come in id order (unique indexes give one, the user ZSET is ordered), so the
-- first that satisfies it is the lowest id.
local function pick(conditions)
  for _, condition in ipairs(conditions) do
    local kind, value = condition[1][1], condition[1][2]
    local candidates
    if kind == 'id' then
      candidates = { value }
    elseif kind == 'user' then
      candidates = redis.call('ZRANGE', userKey(value), 0, -1)
    else
      local id = redis.call('HGET', INDEX[kind], value)
      candidates = id and { id } or {}
    end
    -- The indexes are kept in step with the tokens by these scripts, so a one-pair condition
    -- answered from an index needs no re-check; an id, or several pairs, do.
    if kind ~= 'id' and #condition == 1 then
      if candidates[1] then return candidates[1] end
    else
      for _, id in ipairs(candidates) do
        if satisfies(id, condition) then return id end
      end
    end
  end
  return false
end

-- Length of an id as JavaScript counts it (UTF-16 code units), so ZSET order is core's compareIds.
local function idLength(id)
  local n = 0
  for i = 1, #id do
    local b = string.byte(id, i)
    if b < 0x80 or b >= 0xC0 then n = n + 1 end
    if b >= 0xF0 then n = n + 1 end
  end
  return n
end
`;

/** ARGV[2] = JSON selector. Returns the picked token's HGETALL, or nil. */
export const FIND_SCRIPT = `${PRELUDE}
local id = pick(cjson.decode(ARGV[2]))
if not id then return false end
return redis.call('HGETALL', tokenKey(id))
`;

/**
 * ARGV[2] = JSON request { selector, values: [[field, value]...] (non-null only), id?,
 * newKeys: {kind: digest|false}, keys: {kind: digest|false|[field...]}, guard?: [id, [[field, value|false]...]] }.
 * `keys` are the unique keys after an update: a digest, false for none, absent to keep the
 * stored one, or the names of the key's fields that are saved when the others are not.
 * Returns {'ok', hgetall} | {'conflict', kind} | {'need', hgetall} | {'retry'}.
 */
export const SAVE_SCRIPT = `${PRELUDE}
local req = cjson.decode(ARGV[2])
local id = pick(req.selector)
local stored, keys = {}, {}
if req.guard and (id ~= req.guard[1]) then return { 'retry' } end
if id then
  local flat = redis.call('HGETALL', tokenKey(id))
  stored = hashOf(flat)
  if req.guard then
    for _, pair in ipairs(req.guard[2]) do
      if (stored[pair[1]] or false) ~= pair[2] then return { 'retry' } end
    end
  end
  local saved = {}
  for _, pair in ipairs(req.values) do saved[pair[1]] = pair[2] end
  for _, kind in ipairs(KINDS) do
    local given = req.keys[kind]
    if given == nil then
      keys[kind] = stored['#' .. kind] or false
    elseif type(given) == 'table' then
      -- Only these fields of the key are saved: it stays as stored if they equal the stored
      -- ones, else the caller computes it from the stored token.
      for _, field in ipairs(given) do
        if stored[field] ~= saved[field] then return { 'need', flat } end
      end
      keys[kind] = stored['#' .. kind] or false
    else
      keys[kind] = given
    end
  end
else
  keys = req.newKeys
end

for _, kind in ipairs(UNIQUE) do
  if keys[kind] then
    local owner = redis.call('HGET', INDEX[kind], keys[kind])
    if owner and owner ~= id then return { 'conflict', kind } end
  end
end

if not id then
  if req.id then
    id = req.id
    -- Imported decimal ids of up to 15 digits (core's COUNTER_ID) move the counter past them,
    -- so generated ids never collide; other ids leave it alone.
    if #id <= 15 and string.match(id, '^[1-9][0-9]*$') then
      local current = redis.call('GET', SEQ) or '0'
      if #id > #current or (#id == #current and id > current) then redis.call('SET', SEQ, id) end
    end
  else
    repeat
      redis.call('INCR', SEQ)
      id = redis.call('GET', SEQ)
    until redis.call('EXISTS', tokenKey(id)) == 0
  end
  redis.call('SADD', IDS, id)
end

local key = tokenKey(id)
for _, kind in ipairs(UNIQUE) do
  local old = stored['#' .. kind]
  if old and old ~= keys[kind] and redis.call('HGET', INDEX[kind], old) == id then
    redis.call('HDEL', INDEX[kind], old)
  end
end
if stored['#user'] and stored['#user'] ~= keys.user then redis.call('ZREM', userKey(stored['#user']), id) end

local set, unset = { 'id', id }, {}
for _, pair in ipairs(req.values) do
  set[#set + 1] = pair[1]
  set[#set + 1] = pair[2]
end
for _, kind in ipairs(KINDS) do
  if keys[kind] then
    set[#set + 1] = '#' .. kind
    set[#set + 1] = keys[kind]
  elseif stored['#' .. kind] then
    unset[#unset + 1] = '#' .. kind
  end
end
redis.call('HSET', key, unpack(set))
if #unset > 0 then redis.call('HDEL', key, unpack(unset)) end
for _, kind in ipairs(UNIQUE) do
  if keys[kind] then redis.call('HSET', INDEX[kind], keys[kind], id) end
end
if keys.user then redis.call('ZADD', userKey(keys.user), idLength(id), id) end
return { 'ok', redis.call('HGETALL', key) }
`;

/** ARGV[2] = id. Returns 1 if the token existed. */
export const DELETE_SCRIPT = `${PRELUDE}
local id = ARGV[2]
local stored = hashOf(redis.call('HGETALL', tokenKey(id)))
if not stored['id'] then return 0 end
for _, kind in ipairs(UNIQUE) do
  local digest = stored['#' .. kind]
  if digest and redis.call('HGET', INDEX[kind], digest) == id then redis.call('HDEL', INDEX[kind], digest) end
end
if stored['#user'] then redis.call('ZREM', userKey(stored['#user']), id) end
redis.call('DEL', tokenKey(id), leaseKey(id))
redis.call('SREM', IDS, id)
return 1
`;

/** Returns every token's HGETALL. */
export const ALL_SCRIPT = `${PRELUDE}
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', IDS)) do
  local flat = redis.call('HGETALL', tokenKey(id))
  if #flat > 0 then out[#out + 1] = flat end
end
return out
`;

/** Deletes every token, index and lease of the store; keeps the id counter (ids are never reused). */
export const DELETE_ALL_SCRIPT = `${PRELUDE}
for _, id in ipairs(redis.call('SMEMBERS', IDS)) do
  local user = redis.call('HGET', tokenKey(id), '#user')
  if user then redis.call('DEL', userKey(user)) end
  redis.call('DEL', tokenKey(id), leaseKey(id))
end
redis.call('DEL', IDS, INDEX.identity, INDEX.access, INDEX.grant, INDEX.refresh)
return 1
`;

/** KEYS = token, lease; ARGV = holder, ttl ms. Returns 1 held, 0 held by another, -1 no such token. */
export const ACQUIRE_LEASE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** KEYS = lease; ARGV = holder. Compare-and-delete: only the holder releases. */
export const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
