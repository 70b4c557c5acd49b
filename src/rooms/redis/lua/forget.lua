-- Forgets the rooms of an index ("empty" or "unjoined") whose time is
-- `cutoff` or earlier: they have no members. ARGV: index, cutoff.
local index, cutoff = ARGV[2], ARGV[3]
local rooms = redis.call('ZRANGEBYSCORE', P .. index, '-inf', cutoff)
for _, room in ipairs(rooms) do
  redis.call('DEL', rk(room, 'room'), rk(room, 'm'), rk(room, 'order'), rk(room, 'chat'))
  redis.call('ZREM', P .. 'empty', room)
  redis.call('ZREM', P .. 'unjoined', room)
  redis.call('HINCRBY', P .. 'count', 'rooms', -1)
end
return reply({forgotten = #rooms})
