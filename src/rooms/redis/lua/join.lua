-- Enters a room, or takes a seat back with a verified resume claim.
-- ARGV: room, now, max rooms, instance, a fresh peer id, has name (1/0),
-- name, has resume (1/0), and the claim: peer id, capacity, kind, issued,
-- may remake the room until.
local room, now, max_rooms, inst, fresh = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local name = nil
if ARGV[7] == '1' then name = ARGV[8] end
local resume = ARGV[9] == '1'
local r_peer, r_cap, r_kind, r_issued, r_remakes = ARGV[10], ARGV[11], ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])

local function history()
  local out = {}
  for i, e in ipairs(redis.call('LRANGE', rk(room, 'chat'), 0, -1)) do out[i] = cjson.decode(e) end
  return out
end

-- Seats a newcomer, or says why not.
local function admit(peer)
  local cap = tonumber(redis.call('HGET', rk(room, 'room'), 'cap'))
  if redis.call('LLEN', rk(room, 'order')) >= cap then return nil end
  local epoch = redis.call('HINCRBY', rk(room, 'room'), 'next', 1) - 1
  local m = {n = name}
  hold(room, peer, m, epoch, inst)
  put_member(room, peer, m)
  redis.call('RPUSH', rk(room, 'order'), peer)
  redis.call('HINCRBY', P .. 'count', 'members', 1)
  redis.call('ZREM', P .. 'empty', room)
  redis.call('ZREM', P .. 'unjoined', room)
  return epoch
end

local function answer(peer, epoch, resumed, parked, replaced)
  local r = redis.call('HMGET', rk(room, 'room'), 'kind', 'cap')
  local m = member(room, peer)
  local notify = {}
  if not resumed then
    local rest = present(room, peer)
    tell(room, rest, {k = 'j', peer = {id = peer, name = m.n}})
    notify = ids(rest)
  end
  local h = {}
  if not resumed then h = history() end
  return reply({
    epoch = epoch, peer = {id = peer, name = m.n}, kind = r[1], cap = tonumber(r[2]),
    peers = others(room, peer), notify = notify, resumed = resumed, parked = parked,
    replaced = replaced, history = h,
  })
end

local exists = redis.call('EXISTS', rk(room, 'room')) == 1
if not resume then
  if not exists then return reply({err = 'no-room'}) end
  if redis.call('HEXISTS', rk(room, 'm'), fresh) == 1 then return reply({retry = true}) end
  local epoch = admit(fresh)
  if not epoch then return reply({err = 'full'}) end
  return answer(fresh, epoch, false, {}, false)
end

if not exists then
  -- Old enough to belong to a room that expired.
  if now >= r_remakes then return reply({err = 'gone'}) end
  -- Made just now: a token made before cannot be spent in it.
  if not make_room(room, r_kind, r_cap, now, max_rooms, true) then return reply({err = 'max-rooms'}) end
end
local m = member(room, r_peer)
if m then
  -- Takes the seat back: from an older connection, or from away.
  local epoch = redis.call('HINCRBY', rk(room, 'room'), 'next', 1) - 1
  local replaced = m.e > 0
  local parked = {}
  if replaced then
    if m.i ~= inst then
      tell(room, {{r_peer, m.e, m.i}}, {k = 'x'})
    end
  else
    parked = redis.call('LRANGE', rk(room, 'parked:' .. r_peer), 0, -1)
    redis.call('DEL', rk(room, 'parked:' .. r_peer))
  end
  hold(room, r_peer, m, epoch, inst)
  put_member(room, r_peer, m)
  return answer(r_peer, epoch, true, parked, replaced)
end
if r_issued >= tonumber(redis.call('HGET', rk(room, 'room'), 'created')) then
  return reply({err = 'spent'})
end
local epoch = admit(r_peer)
if not epoch then return reply({err = 'full'}) end
return answer(r_peer, epoch, false, {}, false)
