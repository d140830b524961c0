-- One compare-and-set per row (invariants 3 and 3b), data key and tombstone in one atomic call.
-- KEYS[1] data key, KEYS[2] tombstone key (same cluster slot by construction).
-- ARGV[1] 'hash' | 'json'   ARGV[2] 'set' | 'del'   ARGV[3] version (decimal digits)
-- ARGV[4] TTL seconds of the data key (0: none)     ARGV[5] TTL seconds of a tombstone
-- ARGV[6] the JSON text ('json'), or ARGV[6..] field, value pairs ('hash')
-- Returns 1 when applied, 0 when the stored data or tombstone is as new or newer (stale).
-- Versions may exceed 2^53, beyond exact Lua numbers, so they are compared as zero-padded text.
local function pad(s)
  return string.rep('0', 20 - #s) .. s
end
local v = pad(ARGV[3])
local cur
if ARGV[1] == 'hash' then
  cur = redis.call('HGET', KEYS[1], '_sync_v')
else
  local doc = redis.call('GET', KEYS[1])
  if doc then
    local ok, d = pcall(cjson.decode, doc)
    if ok and type(d) == 'table' and type(d['_sync']) == 'table' then
      cur = d['_sync']['v']
    end
  end
end
if cur == false then
  cur = nil
end
local tomb = redis.call('GET', KEYS[2])
if tomb == false then
  tomb = nil
end
if ARGV[2] == 'set' then
  if (cur and pad(tostring(cur)) >= v) or (tomb and pad(tomb) >= v) then
    return 0
  end
  redis.call('DEL', KEYS[1])
  if ARGV[1] == 'hash' then
    redis.call('HSET', KEYS[1], unpack(ARGV, 6))
  else
    redis.call('SET', KEYS[1], ARGV[6])
  end
  local ttl = tonumber(ARGV[4])
  if ttl and ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return 1
end
local applied = 0
if cur and pad(tostring(cur)) > v then
  applied = 0
else
  redis.call('DEL', KEYS[1])
  applied = 1
end
if not tomb or pad(tomb) < v then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
end
return applied
