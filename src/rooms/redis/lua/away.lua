-- The seats away since `cutoff` or earlier, oldest first, taken off the
-- index. ARGV: cutoff.
local cutoff = ARGV[2]
local found = redis.call('ZRANGEBYSCORE', P .. 'away', '-inf', cutoff, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', P .. 'away', '-inf', cutoff)
local out = {}
for i = 1, #found, 2 do
  local key = found[i]
  local space = string.find(key, ' ', 1, true)
  out[#out + 1] = {peer = string.sub(key, 1, space - 1), room = string.sub(key, space + 1), since = tonumber(found[i + 1])}
end
return reply({away = out})
