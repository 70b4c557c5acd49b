-- Makes a room, unless it exists. ARGV: room, kind, capacity, now,
-- max rooms, "new" (counts as unjoined) or "restore".
local room, kind, cap, now, max_rooms, mode = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', rk(room, 'room')) == 1 then return reply({exists = true}) end
if not make_room(room, kind, cap, now, max_rooms, mode == 'new') then
  return reply({err = 'max-rooms'})
end
return reply({made = true})
