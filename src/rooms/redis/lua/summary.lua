-- A room as seen from outside. ARGV: room.
local room = ARGV[2]
local r = redis.call('HMGET', rk(room, 'room'), 'kind', 'cap')
if not r[1] then return reply({}) end
return reply({kind = r[1], cap = tonumber(r[2]), members = redis.call('LLEN', rk(room, 'order'))})
