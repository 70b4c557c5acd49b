-- Gives up a seat if it is still away since then. ARGV: room, peer,
-- since, now.
local room, peer, since, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local m = member(room, peer)
if m and m.e == 0 and m.s == since then
  return reply({left = remove(room, peer, now)})
end
return reply({})
