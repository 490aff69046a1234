-- release.lua: compare-and-delete, then wake waiters.
--
-- KEYS[1]  lock key          redlease:{R}:lock
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
-- Returns 1 when this holder's or owner's lock was removed (and the
-- release announced), 0 otherwise.
local current = redis.call('GET', KEYS[1])
local prefix = ARGV[2]
local mine = current ~= false and current == ARGV[1]
if current ~= false and prefix ~= '' and string.sub(current, 1, #prefix) == prefix and string.sub(current, -1) ~= '#' then
  if ARGV[7] == '' then
    mine = true
  else
    -- The stored epoch is everything up to the next '#' (the empty epoch
    -- is the earliest; string order is epoch order).
    local epoch = string.match(string.sub(current, #prefix + 1), '^([^#]*)#')
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
if not mine then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
