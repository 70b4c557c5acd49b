-- The seats away since `cutoff` or earlier, oldest first (at most 1000 at
-- a time). They stay in the index until they are released or resumed, so
-- that an instance that dies between listing and releasing them loses
-- none; two instances releasing the same seat is harmless, since release
-- checks that the seat is still away since then. ARGV: cutoff.
local cutoff = ARGV[2]
local found = redis.call('ZRANGEBYSCORE', P .. 'away', '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, 1000)
local out = {}
for i = 1, #found, 2 do
  local key = found[i]
  local space = string.find(key, ' ', 1, true)
  out[#out + 1] = {peer = string.sub(key, 1, space - 1), room = string.sub(key, space + 1), since = tonumber(found[i + 1])}
end
return reply({away = out})
