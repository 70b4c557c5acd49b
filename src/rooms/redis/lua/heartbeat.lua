-- An instance says it is alive; whichever instance holds the sweeper's
-- lock then marks away the seats of instances that stopped saying so,
-- so that their members can resume elsewhere, or are released after the
-- resume grace like any member whose connection was lost. ARGV: instance,
-- how long its word holds (ms), now.
local inst, ttl, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('SET', P .. 'alive:' .. inst, 1, 'PX', ttl)
redis.call('SADD', P .. 'instances', inst)
local lock = redis.call('SET', P .. 'sweeper', inst, 'NX', 'PX', ttl)
if not lock and redis.call('GET', P .. 'sweeper') ~= inst then return reply({}) end
local swept = 0
for _, dead in ipairs(redis.call('SMEMBERS', P .. 'instances')) do
  if redis.call('EXISTS', P .. 'alive:' .. dead) == 0 then
    for _, key in ipairs(redis.call('SMEMBERS', P .. 'seats:' .. dead)) do
      local space = string.find(key, ' ', 1, true)
      local peer, room = string.sub(key, 1, space - 1), string.sub(key, space + 1)
      local m = member(room, peer)
      if m and m.e > 0 and m.i == dead then
        away(room, peer, m, now)
        swept = swept + 1
      end
    end
    redis.call('DEL', P .. 'seats:' .. dead)
    redis.call('SREM', P .. 'instances', dead)
  end
end
return reply({swept = swept})
