"""The Lua scripts of Redis coordination and stream leases: each runs atomically on the Redis server."""

from __future__ import annotations

# KEYS[1] lock key; ARGV[1] holder token. Deletes the key only if it still holds our token.
UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] holder token; ARGV[2] ttl in ms. Extends the lock only while it holds our token.
RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] holder token; ARGV[2] ttl in ms. SET NX PX that also succeeds when the key
# already holds our token: a SET whose reply was lost and that the client retried must not lock us out.
RELOCK_LUA = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Token buckets: a hash {tokens, ts} per bucket, clocked by the Redis server. A missing hash is a full
# bucket; the hash expires once the bucket would be full again, so idle buckets cost no memory.
_BUCKET_FUNCTIONS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level_of(key, rate, burst)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local level = tonumber(state[1])
  local stamp = tonumber(state[2])
  if level == nil or stamp == nil then
    return burst
  end
  local elapsed = now - stamp
  if elapsed < 0 then elapsed = 0 end
  return math.min(burst, level + elapsed * rate)
end
local function store(key, level, rate, burst)
  redis.call('HSET', key, 'tokens', string.format('%.17g', level), 'ts', string.format('%.6f', now))
  redis.call('PEXPIRE', key, math.ceil((burst - level) / rate * 1000) + 1)
end
"""

# KEYS[1] bucket hash; ARGV rate (tokens/s), burst, wanted tokens. Returns the wait in seconds as a string
# (Lua numbers are truncated to integers in replies): '0' once taken, else how long until there are enough.
BUCKET_LUA = _BUCKET_FUNCTIONS + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local level = level_of(KEYS[1], rate, burst)
if level < want then
  return tostring((want - level) / rate)
end
store(KEYS[1], level - want, rate, burst)
return '0'
"""

# KEYS[1] claim mark, KEYS[2..] bucket hashes; ARGV[1] the mark's ttl in ms, then rate and burst of each
# bucket. '-1' when the mark exists (claimed before). Otherwise sets the mark and takes one token from
# every bucket, all or none: '0' when taken, else the seconds until every bucket has one (nothing taken).
CLAIM_TAKE_LUA = _BUCKET_FUNCTIONS + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return '-1'
end
local levels = {}
local wait = 0
for i = 2, #KEYS do
  local rate = tonumber(ARGV[2 * i - 2])
  local level = level_of(KEYS[i], rate, tonumber(ARGV[2 * i - 1]))
  levels[i] = level
  if level < 1 and (1 - level) / rate > wait then
    wait = (1 - level) / rate
  end
end
if wait > 0 then
  return tostring(wait)
end
for i = 2, #KEYS do
  store(KEYS[i], levels[i] - 1, tonumber(ARGV[2 * i - 2]), tonumber(ARGV[2 * i - 1]))
end
return '0'
"""

# KEYS[1] lease, KEYS[2] fence counter; ARGV[1] consumer, ARGV[2] ttl ms. Returns the fencing token, or 0.
LEASE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '/' .. fence, 'PX', ARGV[2])
  return fence
end
return 0
"""

# KEYS[1] members zset; ARGV[1] consumer, ARGV[2] ttl ms. Clocked by the Redis server, so process clocks
# may disagree. Returns how many processes are alive (this one included).
MEMBERS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2] idle ms, ARGV[3] the caller's own consumer. Deletes the group's
# consumers idle longer than that with nothing pending (deleting one with pending entries would drop them).
# One script, so a consumer cannot read new entries between the check and the delete. Returns how many.
DEAD_CONSUMERS_LUA = """
local removed = 0
for _, fields in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
  if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2..] entry ids. Acknowledges the entries and deletes them (they are in
# the store; the stream is only the queue): one command where XACK then XDEL would be two.
ACK_DEL_LUA = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
"""
