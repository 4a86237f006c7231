"""The track store's Lua scripts: every write of a track lands atomically in one of these.

Each write bumps the track's version, the global generation, and publishes an invalidation
(`"<gen> t <id>"` for field changes, `"<gen> o <id>"` when the playlist order changes).
Fencing: a write lands only while its writer still holds the track's lock, or when the
version it read (the `expected` argument) is still current.
"""

# Places member ARGV id at 0-based position `pos` (negative or past the end: last) of the
# sorted set `z` by choosing a score between its neighbours; renumbers when floats run out.
_PLACE = r"""
local function fmt(x) return string.format('%.17g', x) end
local function place(z, id, pos)
  local n = redis.call('ZCARD', z)
  local score
  if pos < 0 or pos >= n then
    if n == 0 then score = 0 else
      local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
      score = math.floor(tonumber(last[2])) + 1
    end
  elseif pos == 0 then
    local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    score = math.floor(tonumber(first[2])) - 1
  else
    local two = redis.call('ZRANGE', z, pos - 1, pos, 'WITHSCORES')
    local a, b = tonumber(two[2]), tonumber(two[4])
    score = (a + b) / 2
    if not (score > a and score < b) then
      local all = redis.call('ZRANGE', z, 0, -1)
      for i, member in ipairs(all) do redis.call('ZADD', z, i - 1, member) end
      score = pos - 0.5
    end
  end
  redis.call('ZADD', z, fmt(score), id)
  return redis.call('ZRANK', z, id)
end
"""

_BUMP = r"""
local function bump(gen_key, channel, kind, id)
  local g = redis.call('INCR', gen_key)
  redis.call('PUBLISH', channel, g .. ' ' .. kind .. ' ' .. id)
  return g
end
"""

# Checks of an existing track under lock. Returns nil when the write may land, else a reply.
_GUARD = r"""
local function guard(hkey, lkey, expected, token)
  if redis.call('EXISTS', hkey) == 0 then
    if token ~= '' and redis.call('GET', lkey) == token then redis.call('DEL', lkey) end
    return {'missing'}
  end
  local v = tonumber(redis.call('HGET', hkey, 'version'))
  if expected ~= '' and tonumber(expected) ~= v then
    if token ~= '' and redis.call('GET', lkey) == token then redis.call('DEL', lkey) end
    return {'conflict', v}
  end
  if expected == '' and redis.call('GET', lkey) ~= token then
    return {'lost_lock', v}
  end
  return nil
end
"""

# KEYS: hash, playlist, gen, lock. ARGV: id, channel, expected, token, updated, k1, v1, …
UPDATE = _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[3], ARGV[4])
if refused then return refused end
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
redis.call('HSET', KEYS[1], 'updated', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'version', 1)
bump(KEYS[3], ARGV[2], 't', ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), redis.call('ZRANK', KEYS[2], ARGV[1])}
"""

# KEYS: hash, playlist, gen, lock. ARGV: id, channel, expected, token, updated, position
MOVE = _PLACE + _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[3], ARGV[4])
if refused then return refused end
redis.call('ZREM', KEYS[2], ARGV[1])
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[6]))
redis.call('HSET', KEYS[1], 'updated', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'version', 1)
bump(KEYS[3], ARGV[2], 'o', ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), rank}
"""

# KEYS: hash, playlist, gen, lock. ARGV: id, channel, expected, token
DELETE = _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[3], ARGV[4])
if refused then return refused end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
bump(KEYS[3], ARGV[2], 'o', ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
return {'ok'}
"""

# KEYS: hash, playlist, gen. ARGV: id, channel, position, k1, v1, … (all fields)
# An existing id is left alone ('exists'): imports are idempotent.
CREATE = _PLACE + _BUMP + r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[3]))
bump(KEYS[3], ARGV[2], 'o', ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1]), rank}
"""

# Releases a lock only if it is still ours. KEYS: lock. ARGV: token
RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
