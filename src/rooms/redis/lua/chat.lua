-- Remembers a chat message and sends it to everyone here. ARGV: room,
-- from, epoch, text, now, most messages kept, most bytes kept.
local room, from, epoch, text, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local max_count, max_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local m = held(room, from, epoch)
if not m then return reply({err = 'not-in-room'}) end
local function size(e)
  return #e.from + #(e.name or '') + #e.text
end
local entry = {from = from, name = m.n, text = text, time = now}
redis.call('RPUSH', rk(room, 'chat'), cjson.encode(entry))
local bytes = redis.call('HINCRBY', rk(room, 'room'), 'cb', size(entry))
while redis.call('LLEN', rk(room, 'chat')) > max_count or bytes > max_bytes do
  local oldest = cjson.decode(redis.call('LPOP', rk(room, 'chat')))
  bytes = redis.call('HINCRBY', rk(room, 'room'), 'cb', -size(oldest))
end
local here = present(room, nil)
tell(room, here, {k = 'c', from = from, name = m.n, text = text, time = now})
return reply({entry = entry, notify = ids(here)})
