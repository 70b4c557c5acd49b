-- Routes a signal. ARGV: room, from, epoch, to, message, now, most parked
-- messages, most parked bytes.
local room, from, epoch, to, message, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local max_count, max_bytes = tonumber(ARGV[8]), tonumber(ARGV[9])
if not held(room, from, epoch) then return reply({err = 'not-in-room'}) end
local m = nil
if from ~= to then m = member(room, to) end
if not m then return reply({err = 'no-peer'}) end
if m.e > 0 then
  tell(room, {{to, m.e, m.i}}, {k = 's', m = message})
  return reply({route = 'now'})
end
if m.pc < max_count and m.pb + #message <= max_bytes then
  redis.call('RPUSH', rk(room, 'parked:' .. to), message)
  m.pc = m.pc + 1
  m.pb = m.pb + #message
  put_member(room, to, m)
  return reply({route = 'parked'})
end
return reply({route = 'released', left = remove(room, to, now)})
