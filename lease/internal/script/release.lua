-- release.lua: compare-and-delete, mark the release, then wake waiters.
--
-- KEYS[1]  lock key          redlease:{R}:lock
-- KEYS[2]  fence key         redlease:{R}:fence
-- KEYS[3]  (optional) the released holder's scope record
--          redlease:{R}:scope:<holder> (see scope.lua)
-- ARGV[1]  owner value of the caller, or "" when releasing by holder
-- ARGV[2]  holder prefix "holder#": release whatever this holder holds, or ""
-- ARGV[3]  channel on which to announce the release, or "" for none
-- ARGV[4]  message to publish (the resource name)
-- ARGV[5]  tombstone to leave when releasing by holder (holder#epoch#), or ""
-- ARGV[6]  tombstone TTL in milliseconds
-- ARGV[7]  the tombstone's epoch: locks of the holder with a later epoch
--          (a newer lease of the same holder) are left alone
--
-- By owner: deletes the lock if its value is ARGV[1].
-- By holder: replaces the holder's lock (any epoch up to the tombstone's)
-- or its tombstone of an earlier epoch with the tombstone, or plants the
-- tombstone on a free node; another holder's lock is never touched.
--
-- The release leaves its mark in the fence counter: it advances the
-- counter where it removed the lock, and where the released scope's record
-- (KEYS[3]: its owner is ARGV[1], or by holder an owner of the holder up to
-- the epoch) still equals the counter — a node where the scope's lock had
-- merely expired and that the scope could put back. A scope proves that
-- nobody took the resource from it by a counter that did not move
-- (scope.lua), so after this no keep, put-back, acquisition or progress
-- save of the released scope succeeds here. A skipped token is harmless.
--
-- Returns 1 when this holder's or owner's lock was removed (and the
-- release announced), 0 otherwise.
local current = redis.call('GET', KEYS[1])
local prefix = ARGV[2]
-- The epoch of an owner value or tombstone of this holder: everything up
-- to the next '#' (the empty epoch is the earliest; string order is epoch
-- order).
local function epoch_of(value)
  return string.match(string.sub(value, #prefix + 1), '^([^#]*)#')
end
local mine = current ~= false and current == ARGV[1]
if current ~= false and prefix ~= '' and string.sub(current, 1, #prefix) == prefix and string.sub(current, -1) ~= '#' then
  if ARGV[7] == '' then
    mine = true
  else
    local epoch = epoch_of(current)
    mine = epoch ~= nil and epoch <= ARGV[7]
  end
end
-- The holder's own tombstone from an earlier epoch gives way to the new
-- one (keeping the longer TTL), so the later release refuses every epoch
-- up to its own.
local older = false
if ARGV[5] ~= '' and current ~= false and current ~= ARGV[5] and string.sub(current, -1) == '#' and string.sub(current, 1, #prefix) == prefix then
  local epoch = string.match(string.sub(current, #prefix + 1), '^([^#]*)#$')
  older = epoch ~= nil and epoch < ARGV[7]
end
if ARGV[5] ~= '' and (current == false or mine or older) then
  local ttl = tonumber(ARGV[6])
  if older then
    ttl = math.max(ttl, redis.call('PTTL', KEYS[1]))
  end
  redis.call('SET', KEYS[1], ARGV[5], 'PX', ttl)
elseif mine then
  redis.call('DEL', KEYS[1])
end
-- SET, not INCR: the least-privilege user (README) runs the scripts with
-- the commands they already use.
local function advance(fence)
  redis.call('SET', KEYS[2], string.format('%.0f', fence + 1))
end
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if mine then
  advance(fence)
elseif KEYS[3] ~= nil then
  local record = redis.call('GET', KEYS[3])
  if record ~= false then
    local head, tail = string.match(record, '^([^|]*)|[^|]*|(.*)$')
    local released = false
    if head ~= nil and head ~= 'released' then
      if ARGV[1] ~= '' then
        released = tail == ARGV[1]
      elseif string.sub(tail, 1, #prefix) == prefix then
        local epoch = epoch_of(tail)
        released = epoch ~= nil and (ARGV[7] == '' or epoch <= ARGV[7])
      end
    end
    if released and tonumber(head) == fence then
      advance(fence)
    end
  end
end
if not mine then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
