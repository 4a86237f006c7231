"""The track store's Lua scripts: every write of a track lands atomically in one of these.

Each write bumps the track's version, the global generation, and publishes an invalidation
(`"<gen> t <id> <ack>"` for field changes, `"<gen> o <id> <ack>"` when the playlist order
changes; `<ack>` names the write's acknowledgement keys, `-` when no lease is alive), and
answers with the read leases alive at that moment (see tracks/cache.py): the writer waits
until each of those caches has acknowledged (ACK) before it answers its client.
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

_NOW = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# bump: the generation and the invalidation, with the leases that have not expired (Redis's
# clock, ms), returned as {now, session, expiry, …} and recorded as the set of sessions whose
# acknowledgement the write waits for. With no lease alive the message names no ack keys
# ("-"): nobody acknowledges, nobody is waited for.
_BUMP = _NOW + r"""
local function live(leases_key, want_key)
  local now = now_ms()
  local found = redis.call('ZRANGE', leases_key, '(' .. string.format('%d', now), '+inf', 'BYSCORE', 'WITHSCORES')
  local last = now
  for i = 1, #found, 2 do
    redis.call('SADD', want_key, found[i])
    last = math.max(last, tonumber(found[i + 1]))
  end
  -- kept until 10 s after the last of these leases runs out: the writer may wait that long
  if #found > 0 then redis.call('PEXPIRE', want_key, string.format('%d', last - now + 10000)) end
  table.insert(found, 1, string.format('%d', now))
  return found
end
local function bump(gen_key, channel, kind, id, leases_key, want_key, ack)
  local found = live(leases_key, want_key)
  if #found == 1 then ack = '-' end
  local g = redis.call('INCR', gen_key)
  redis.call('PUBLISH', channel, g .. ' ' .. kind .. ' ' .. id .. ' ' .. ack)
  return found
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

# KEYS: hash, playlist, gen, lock, leases, want. ARGV: id, channel, ack, expected, token, updated, k1, v1, …
UPDATE = _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
redis.call('HSET', KEYS[1], 'updated', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'version', 1)
local waits = bump(KEYS[3], ARGV[2], 't', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), redis.call('ZRANK', KEYS[2], ARGV[1]), waits}
"""

# KEYS: hash, playlist, gen, lock, leases, want. ARGV: id, channel, ack, expected, token, updated, position
MOVE = _PLACE + _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
redis.call('ZREM', KEYS[2], ARGV[1])
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[7]))
redis.call('HSET', KEYS[1], 'updated', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'version', 1)
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), rank, waits}
"""

# KEYS: hash, playlist, gen, lock, leases, want. ARGV: id, channel, ack, expected, token
DELETE = _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', waits}
"""

# KEYS: hash, playlist, gen, leases, want. ARGV: id, channel, ack, position, k1, v1, … (all fields)
# An existing id is left alone ('exists'): imports are idempotent.
CREATE = _PLACE + _BUMP + r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[4]))
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[4], KEYS[5], ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), rank, waits}
"""

# A cache's acknowledgements: it has applied these writes' invalidations. Takes its session
# out of each write's `want` set; the last one out tells the writer (`done` list).
# KEYS: want1, done1, want2, done2, … ARGV: session, ttl_ms.
ACK = r"""
for i = 1, #KEYS, 2 do
  if redis.call('SREM', KEYS[i], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('RPUSH', KEYS[i + 1], '1')
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
  end
end
return 1
"""

# A cache's read lease (tracks/cache.py), granted only to a subscriber that has applied every
# invalidation so far (`applied` >= gen) of the data set it knows (`epoch`); drops expired
# leases. KEYS: leases, gen, epoch. ARGV: session, applied, ttl_ms, epoch.
# Returns 1 (granted), 0 (behind: not granted), -1 (another data set: start over).
LEASE = _NOW + r"""
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return -1 end
if tonumber(ARGV[2]) < tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
return 1
"""

# Releases a lock only if it is still ours. KEYS: lock. ARGV: token
RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# --- backup and restore (tracks/backup.py) -------------------------------------------------
# bump_many: one invalidation per written track (each its own generation, as single writes
# do), published in order; only the last names the ack keys, so a cache acknowledges once it
# has applied all of them. No track written: no lease is waited for.
_BUMP_MANY = _BUMP + r"""
local function bump_many(gen_key, channel, kind, ids, leases_key, want_key, ack)
  if #ids == 0 then return {string.format('%d', now_ms())} end
  local found = live(leases_key, want_key)
  if #found == 1 then ack = '-' end
  for i, id in ipairs(ids) do
    local g = redis.call('INCR', gen_key)
    local a = '-'
    if i == #ids then a = ack end
    redis.call('PUBLISH', channel, g .. ' ' .. kind .. ' ' .. id .. ' ' .. a)
  end
  return found
end
"""

# Moves staged track hashes into the library (RENAME: no copy), keeping their version and times.
# Add ('0'): only where the id is free, placed last; an existing track is left alone and
# reported 'unchanged' (same version and updated time) or 'conflict:<its version>:<staged>'.
# Replace ('1'): written over what is there, under the track's lock (our token, or
# 'lost_lock' and nothing happens to that track), at the score given (its file position).
# KEYS: playlist, gen, leases, want, then per track: hash, staged hash, lock.
# ARGV: channel, ack, replace, token, then per track: id, score.
RESTORE = _PLACE + _BUMP_MANY + r"""
local out, written = {}, {}
local n = (#KEYS - 4) / 3
-- Redis keeps a script's writes made before an error: refuse the batch before any write if a
-- key it would write is not a hash (a corrupted key), so nothing lands without its invalidation.
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'zset' and t ~= 'none' then return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. t) end
for i = 1, n do
  for _, name in ipairs({KEYS[3 * i + 2], KEYS[3 * i + 3]}) do
    t = redis.call('TYPE', name).ok
    if t ~= 'hash' and t ~= 'none' then return redis.error_reply('WRONGTYPE ' .. name .. ' is a ' .. t) end
  end
end
for i = 1, n do
  local live, staged, lock = KEYS[3 * i + 2], KEYS[3 * i + 3], KEYS[3 * i + 4]
  local id, score = ARGV[2 * i + 3], ARGV[2 * i + 4]
  local was = redis.call('HMGET', live, 'version', 'updated')
  local new = redis.call('HMGET', staged, 'version', 'updated')
  if not new[1] then
    out[i] = 'gone'
    if ARGV[3] == '1' and redis.call('GET', lock) == ARGV[4] then redis.call('DEL', lock) end
  elseif ARGV[3] == '1' then
    if redis.call('GET', lock) ~= ARGV[4] then
      out[i] = 'lost_lock'
    else
      redis.call('RENAME', staged, live)
      redis.call('PERSIST', live)
      redis.call('ZADD', KEYS[1], score, id)
      redis.call('DEL', lock)
      if not was[1] then out[i] = 'created'
      elseif was[1] == new[1] and was[2] == new[2] then out[i] = 'unchanged'
      else out[i] = 'replaced' end
      written[#written + 1] = id
    end
  elseif was[1] then
    redis.call('DEL', staged)
    if was[1] == new[1] and was[2] == new[2] then out[i] = 'unchanged'
    else out[i] = 'conflict:' .. was[1] .. ':' .. new[1] end
  else
    redis.call('RENAME', staged, live)
    redis.call('PERSIST', live)
    place(KEYS[1], id, -1)
    out[i] = 'created'
    written[#written + 1] = id
  end
end
local waits = bump_many(KEYS[2], ARGV[1], 'o', written, KEYS[3], KEYS[4], ARGV[2])
return {out, waits}
"""

# Deletes, under their locks (our token), the tracks whose id is not a field of `kept` (the
# ids of the file an import --replace loads): 'deleted', 'kept', 'absent' or 'lost_lock'.
# KEYS: playlist, gen, leases, want, kept, then per track: hash, lock.
# ARGV: channel, ack, token, then per track: id.
DROP_ABSENT = _BUMP_MANY + r"""
local out, written = {}, {}
local n = (#KEYS - 5) / 2
for i = 1, n do
  local live, lock, id = KEYS[2 * i + 4], KEYS[2 * i + 5], ARGV[i + 3]
  if redis.call('GET', lock) ~= ARGV[3] then
    out[i] = 'lost_lock'
  else
    if redis.call('HEXISTS', KEYS[5], id) == 1 then
      out[i] = 'kept'
    elseif redis.call('EXISTS', live) == 0 then
      out[i] = 'absent'
    else
      redis.call('DEL', live)
      redis.call('ZREM', KEYS[1], id)
      out[i] = 'deleted'
      written[#written + 1] = id
    end
    redis.call('DEL', lock)
  end
end
local waits = bump_many(KEYS[2], ARGV[1], 'o', written, KEYS[3], KEYS[4], ARGV[2])
return {out, waits}
"""

# The summed lengths of the fields ARGV of each hash KEYS (0 for a hash that is gone), in one
# call: what an export may read at once is chosen from these before reading the records.
FIELD_LENGTHS = r"""
local out = {}
for i, name in ipairs(KEYS) do
  local n = 0
  for j = 1, #ARGV do n = n + redis.call('HSTRLEN', name, ARGV[j]) end
  out[i] = n
end
return out
"""
