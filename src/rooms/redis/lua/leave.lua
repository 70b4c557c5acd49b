-- An explicit leave, or a connection gone without keeping its seat, or one
-- gone keeping it (away). ARGV: room, peer, epoch, now, "leave" | "drop" |
-- "keep".
local room, peer, epoch, now, how = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local m = held(room, peer, epoch)
if not m then
  if how == 'leave' then return reply({err = 'not-in-room'}) end
  return reply({})
end
if how == 'keep' then
  away(room, peer, m, now)
  return reply({})
end
return reply({left = remove(room, peer, now)})
