-- One compare-and-set per row (invariants 3 and 3b), data key and tombstone in one atomic call.
-- KEYS[1] data key, KEYS[2] tombstone key (same cluster slot by construction).
-- ARGV[1] 'hash' | 'json'   ARGV[2] 'set' | 'del' | 'trunc'   ARGV[3] version (decimal digits)
-- ARGV[4] TTL seconds of the data key (0: none)     ARGV[5] TTL seconds of a tombstone
-- ARGV[6] the writing source's id                   ARGV[7] the table's truncate floor ('' none)
-- ARGV[8] the JSON text ('json'), or ARGV[8..] field, value pairs ('hash')
-- Returns 1 when applied, 0 when the stored data, tombstone or floor is as new or newer (stale),
-- {2, other source id} when the entry or its tombstone belongs to another source (not applied).
-- 'trunc' (a TRUNCATE at version ARGV[3]) deletes the entry when it is older and of this source.
-- Versions may exceed 2^53, beyond exact Lua numbers, so they are compared as zero-padded text.
-- Tombstones hold '<version>@<source id>' ('<version>' when written before sources were stamped).
-- Entries without a source stamp were written before stamps existed and count as this source's.
local function pad(s)
  return string.rep('0', 20 - #s) .. s
end
local v = pad(ARGV[3])
local src = ARGV[6]
local cur, cursrc
if ARGV[1] == 'hash' then
  local h = redis.call('HMGET', KEYS[1], '_sync_v', '_sync_src')
  cur, cursrc = h[1], h[2]
else
  local doc = redis.call('GET', KEYS[1])
  if doc then
    local ok, d = pcall(cjson.decode, doc)
    if ok and type(d) == 'table' and type(d['_sync']) == 'table' then
      cur, cursrc = d['_sync']['v'], d['_sync']['src']
    end
  end
end
if cur == false or cur == nil then
  cur = nil
else
  cur = tostring(cur)
end
if cursrc == false or cursrc == '' or type(cursrc) ~= 'string' then
  cursrc = nil
end
if ARGV[2] == 'trunc' then
  if cur and (cursrc == nil or cursrc == src) and pad(cur) < v then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if cursrc and cursrc ~= src then
  return {2, cursrc}
end
local tomb = redis.call('GET', KEYS[2])
local tombsrc
if tomb == false then
  tomb = nil
else
  local at = string.find(tomb, '@', 1, true)
  if at then
    tombsrc = string.sub(tomb, at + 1)
    tomb = string.sub(tomb, 1, at - 1)
  end
  if tombsrc and tombsrc ~= src then
    return {2, tombsrc}
  end
end
if ARGV[7] ~= '' and v < pad(ARGV[7]) then
  return 0
end
if ARGV[2] == 'set' then
  if (cur and pad(cur) >= v) or (tomb and pad(tomb) >= v) then
    return 0
  end
  redis.call('DEL', KEYS[1])
  if ARGV[1] == 'hash' then
    redis.call('HSET', KEYS[1], unpack(ARGV, 8))
  else
    redis.call('SET', KEYS[1], ARGV[8])
  end
  local ttl = tonumber(ARGV[4])
  if ttl and ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return 1
end
local applied = 0
if cur and pad(cur) > v then
  applied = 0
else
  redis.call('DEL', KEYS[1])
  applied = 1
end
if not tomb or pad(tomb) < v then
  redis.call('SET', KEYS[2], ARGV[3] .. '@' .. src, 'EX', ARGV[5])
end
return applied
