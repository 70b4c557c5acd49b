-- Tests only: everything under the namespace, in a stable form, and what
-- disagrees in the store's own bookkeeping. ARGV: (none beyond the prefix).
local keys = redis.call('KEYS', P .. '*')
table.sort(keys)
local dump = {}
for _, key in ipairs(keys) do
  local t = redis.call('TYPE', key).ok
  local v
  if t == 'hash' then
    v = redis.call('HGETALL', key)
    local pairs_ = {}
    for i = 1, #v, 2 do pairs_[#pairs_ + 1] = v[i] .. '=' .. v[i + 1] end
    table.sort(pairs_)
    v = pairs_
  elseif t == 'list' then v = redis.call('LRANGE', key, 0, -1)
  elseif t == 'zset' then v = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif t == 'set' then v = redis.call('SMEMBERS', key); table.sort(v)
  else v = {redis.call('GET', key)} end
  dump[#dump + 1] = key .. ':' .. table.concat(v, '|')
end
local problems = {}
local rooms, members = 0, 0
for _, key in ipairs(redis.call('KEYS', P .. '{*}:room')) do
  rooms = rooms + 1
  local room = string.sub(key, #P + 2, #key - 6)
  local n = redis.call('LLEN', rk(room, 'order'))
  members = members + n
  if n > tonumber(redis.call('HGET', key, 'cap')) then problems[#problems + 1] = room .. ' over capacity' end
  if redis.call('HLEN', rk(room, 'm')) ~= n then problems[#problems + 1] = room .. ' members disagree' end
end
local c = counts()
if c[1] ~= rooms or c[2] ~= members then
  problems[#problems + 1] = 'counts ' .. c[1] .. '/' .. c[2] .. ' but ' .. rooms .. '/' .. members
end
return reply({dump = table.concat(dump, '\n'), problems = problems})
