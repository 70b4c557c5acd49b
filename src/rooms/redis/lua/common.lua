-- Helpers every script of the Redis room store starts with (the store
-- prepends this file). ARGV[1] is the namespace of every key, e.g.
-- "parlor:". A room's keys share the hash tag {room}, so that they live in
-- one slot; the few global keys (counts, indexes) are the namespace's own.
-- Everything a script changes it changes in one step: Redis runs a script
-- as a whole, and the events it publishes leave in the order it made them.

local P = ARGV[1]

local function rk(room, what)
  return P .. '{' .. room .. '}:' .. what
end

-- A member: n = name (absent when none), e = epoch of the connection that
-- holds the seat (0 while away), s = away since (ms), i = instance holding
-- the connection, pc/pb = parked messages and bytes.
local function member(room, peer)
  local v = redis.call('HGET', rk(room, 'm'), peer)
  if v then return cjson.decode(v) end
  return nil
end

local function put_member(room, peer, m)
  redis.call('HSET', rk(room, 'm'), peer, cjson.encode(m))
end

-- The key of a seat in the away index and an instance's seat set.
local function seat_key(room, peer)
  return peer .. ' ' .. room
end

local function counts()
  local c = redis.call('HMGET', P .. 'count', 'rooms', 'members')
  return {tonumber(c[1]) or 0, tonumber(c[2]) or 0}
end

local function reply(t)
  t.counts = counts()
  return cjson.encode(t)
end

local function order(room)
  return redis.call('LRANGE', rk(room, 'order'), 0, -1)
end

-- The others, oldest first, as {id, name}.
local function others(room, except)
  local out = {}
  for _, peer in ipairs(order(room)) do
    if peer ~= except then
      local m = member(room, peer)
      out[#out + 1] = {id = peer, name = m.n}
    end
  end
  return out
end

-- Members here (connected), oldest first, but `except`: {peer, epoch, instance}.
local function present(room, except)
  local out = {}
  for _, peer in ipairs(order(room)) do
    if peer ~= except then
      local m = member(room, peer)
      if m.e > 0 then out[#out + 1] = {peer, m.e, m.i} end
    end
  end
  return out
end

local function ids(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = r[1] end
  return out
end

-- Publishes `ev` for each recipient {peer, epoch, instance} to the channel
-- of the instance holding its connection, one message per instance.
local function tell(room, recipients, ev)
  local by = {}
  local insts = {}
  for _, r in ipairs(recipients) do
    if not by[r[3]] then by[r[3]] = {}; insts[#insts + 1] = r[3] end
    local list = by[r[3]]
    list[#list + 1] = {r[1], r[2]}
  end
  for _, inst in ipairs(insts) do
    redis.call('PUBLISH', P .. 'inst:' .. inst, cjson.encode({r = room, to = by[inst], ev = ev}))
  end
end

-- Seats the connection of `inst` at `epoch`.
local function hold(room, peer, m, epoch, inst)
  if m.i then redis.call('SREM', P .. 'seats:' .. m.i, seat_key(room, peer)) end
  m.e = epoch; m.i = inst; m.s = nil; m.pc = 0; m.pb = 0
  redis.call('SADD', P .. 'seats:' .. inst, seat_key(room, peer))
  redis.call('ZREM', P .. 'away', seat_key(room, peer))
end

-- Marks the member away since `now`, keeping its seat.
local function away(room, peer, m, now)
  if m.i then redis.call('SREM', P .. 'seats:' .. m.i, seat_key(room, peer)) end
  m.e = 0; m.i = nil; m.s = now; m.pc = 0; m.pb = 0
  put_member(room, peer, m)
  redis.call('DEL', rk(room, 'parked:' .. peer))
  redis.call('ZADD', P .. 'away', now, seat_key(room, peer))
end

-- The member holding the seat at `epoch`, if that connection still holds it.
local function held(room, peer, epoch)
  local m = member(room, peer)
  if m and m.e > 0 and m.e == tonumber(epoch) then return m end
  return nil
end

-- Removes a member, tells the others, and says who was told.
local function remove(room, peer, now)
  local m = member(room, peer)
  if not m then return nil end
  redis.call('LREM', rk(room, 'order'), 1, peer)
  redis.call('HDEL', rk(room, 'm'), peer)
  redis.call('DEL', rk(room, 'parked:' .. peer))
  redis.call('ZREM', P .. 'away', seat_key(room, peer))
  if m.i then redis.call('SREM', P .. 'seats:' .. m.i, seat_key(room, peer)) end
  redis.call('HINCRBY', P .. 'count', 'members', -1)
  if redis.call('LLEN', rk(room, 'order')) == 0 then
    -- The last one out takes the chat with it.
    redis.call('ZADD', P .. 'empty', now, room)
    redis.call('DEL', rk(room, 'chat'))
    redis.call('HSET', rk(room, 'room'), 'cb', 0)
  end
  local rest = present(room, peer)
  tell(room, rest, {k = 'l', id = peer})
  return {room = room, peer_id = peer, notify = ids(rest)}
end

-- Makes a room; false when the server holds as many as it may.
local function make_room(room, kind, cap, now, max_rooms, unjoined)
  if counts()[1] >= tonumber(max_rooms) then return false end
  redis.call('HSET', rk(room, 'room'), 'kind', kind, 'cap', cap, 'created', now, 'next', 1, 'cb', 0)
  redis.call('HINCRBY', P .. 'count', 'rooms', 1)
  redis.call('ZADD', P .. 'empty', now, room)
  if unjoined then redis.call('ZADD', P .. 'unjoined', now, room) end
  return true
end
