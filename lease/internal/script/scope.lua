-- scope.lua: one node's part of a scope lease (see scope.go): a lock held
-- under one owner value for a whole scope, whose holder can prove on every
-- node that nobody else held the resource since the scope acquired it.
--
-- KEYS[1]  lock key    redlease:{R}:lock
-- KEYS[2]  fence key   redlease:{R}:fence
-- KEYS[3]  node key    redlease:node (the restart guard, see acquire.lua)
-- KEYS[4]  record key  redlease:{R}:scope:<holder>
-- KEYS[5]  progress key redlease:{R}:progress:<holder> (its expiry is
--          refreshed with the record's)
-- ARGV[1]  the scope's owner value, holder#epoch#nonce
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  the holder prefix "holder#"
-- ARGV[4]  the scope's epoch (the epoch in ARGV[1])
-- ARGV[5]  what to do: "start", "first", "resume", "keep", "raise" or "heal"
-- ARGV[6]  fence floor in microseconds (start, first, resume); the token (raise)
-- ARGV[7]  ARGV[8] ARGV[9]: the restart guard, as in acquire.lua
-- ARGV[10] how long the record outlives the last touch, in milliseconds
-- ARGV[11] the caller's attempt epoch: orders the attempts acting for the
--          scope; for keep, "" (a keeper acts for every attempt) or the
--          epoch of the section that keeps
--
-- The record says what this node knows of the holder's scope:
--   "<counter>|<attempt>|<owner>"  the scope <owner> holds the lock here,
--                        <counter> is the fence counter it last set, and
--                        <attempt> the latest attempt epoch that took a
--                        token: an earlier attempt (delivered late) never
--                        takes one again;
--   "released||<epoch>"  the holder released here at <epoch>: scopes from
--                        that epoch or earlier are over.
-- Every token handed out here advances the counter, so a counter that
-- still equals the record's means nobody else was granted the lock here
-- since: the scope still holds the resource here even if its lock expired,
-- and the lock may be put back. A moved counter, another owner's lock or
-- tombstone, or a release is proof that the scope lost this node.
--
-- Operations:
--   first   take the lock for the scope: also where the scope never held
--           it (a free lock, another holder's tombstone, an earlier scope
--           of the holder); a fresh token.
--   start   first, for an acquisition no work of the scope can have
--           preceded: where the scope lost the node, take it afresh.
--   resume  the same, only where the record proves the scope still holds
--           the node: a fresh token (a newer attempt fences out older ones).
--   keep    extend where the scope still holds the node; no new token.
--   raise   raise the counter to the token where the lock is the scope's.
--   heal    sent only once a quorum holds the scope (this very round): put
--           the lock on a node that has no record of the scope and no
--           other owner's lock — it missed the acquisition (a timed-out
--           request) — so that the scope does not depend on the nodes it
--           happened to reach; a node the scope lost stays lost.
--
-- Returns {1, counter, fresh} when the scope holds the lock here now
--   (counter: the token handed out, or the current counter for keep and
--   raise; fresh: 1 when this call took a lock the scope never held here,
--   which an acquisition that fails takes back, see scope_undo.lua).
-- Returns {0, pttl} (first only) when another holder holds the lock and
--   the scope never held this node: nothing changed.
-- Returns {3, 0} when the scope lost this node (see above): nothing changed.
-- Returns {4, 0} (resume, keep) when this node has no record of the scope
--   and not its lock: it never held the lock here, or the node lost its
--   data: nothing changed.
-- Returns {6, 0} when a later attempt of the scope took a token here
--   (keep: only when the caller names its attempt), or (raise) when the
--   counter is already past the token: the caller is stale; nothing changed.
-- Returns {5, 0} when the scope was released here (ReleaseScope at or
--   after its epoch): the scope is over; nothing changed.
-- Returns {2, ms} when the node is guarded for ms more (see guard.lua).
local MAX_FENCE = 9007199254740991 -- 2^53 - 1

local refusal = guard()
if refusal then
  return refusal
end

local owner, op, prefix = ARGV[1], ARGV[5], ARGV[3]
local current = redis.call('GET', KEYS[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')

-- the epoch of a value of this holder: everything up to the next '#'
local function epoch_of(value)
  if string.sub(value, 1, #prefix) ~= prefix then
    return nil
  end
  return string.match(string.sub(value, #prefix + 1), '^([^#]*)#')
end

local record = redis.call('GET', KEYS[4])
local counted, recorded, attempt = nil, nil, ''
if record ~= false then
  local head, mid, tail = string.match(record, '^([^|]*)|([^|]*)|(.*)$')
  if head == 'released' then
    if tail >= ARGV[4] then
      return {5, 0}
    end
  elseif tail == owner then
    counted, recorded, attempt = tonumber(head), tail, mid
    if ARGV[11] < attempt and ((op ~= 'keep' and op ~= 'heal') or ARGV[11] ~= '') then
      return {6, 0}
    end
  else
    local e = epoch_of(tail or '')
    if e ~= nil and e > ARGV[4] then
      return {3, 0} -- a later scope of this holder
    end
  end
end

local fresh = 0 -- 1 when this call took a lock the scope never held here
if current ~= owner then
  if op == 'raise' then
    return {3, 0}
  end
  local tombstone = current ~= false and string.sub(current, -1) == '#'
  if tombstone then
    local e = epoch_of(current)
    if e ~= nil and e >= ARGV[4] then
      return {5, 0} -- this holder released at or after the scope's start
    end
  end
  -- A tombstone is no grant (a release plants it on a free node): only a
  -- lock or a moved counter shows that someone else was granted here.
  local moved = recorded ~= nil and ((current ~= false and not tombstone) or fence ~= counted)
  if moved and op == 'start' then
    recorded = nil -- nothing of the scope ran yet: start afresh
  end
  if recorded ~= nil then
    if moved then
      return {3, 0}
    end
    -- expired here, and nobody got a token since: put the lock back
    redis.call('SET', KEYS[1], owner, 'PX', ARGV[2])
  elseif op == 'heal' then
    -- no record here: copy the lock where no other owner holds it, the
    -- scope holding a quorum (see scope.go); the counter stays
    if current ~= false and not tombstone then
      return {0, redis.call('PTTL', KEYS[1])}
    end
    redis.call('SET', KEYS[1], owner, 'PX', ARGV[2])
  elseif op ~= 'first' and op ~= 'start' then
    return {4, 0}
  else
    fresh = 1
    local grant = current == false
    local e = nil
    if not grant then
      e = epoch_of(current)
      if e ~= nil then
        grant = e < ARGV[4] -- an earlier scope's lock or tombstone
      else
        grant = string.sub(current, -1) == '#' -- another holder's tombstone
      end
    end
    if not grant then
      if e ~= nil then
        return {3, 0} -- a later scope of this holder, or its tombstone
      end
      return {0, redis.call('PTTL', KEYS[1])}
    end
    redis.call('SET', KEYS[1], owner, 'PX', ARGV[2])
  end
end

if op == 'raise' then
  local token = tonumber(ARGV[6])
  if fence > token then
    return {6, 0} -- another attempt of the scope took a later token here
  end
  if fence < token then
    fence = token
    redis.call('SET', KEYS[2], ARGV[6])
  end
elseif op == 'keep' or op == 'heal' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else -- start, first, resume
  fence = math.max(fence + 1, tonumber(ARGV[6]))
  if fence > MAX_FENCE then
    return redis.error_reply('ERR redlease: fence counter exhausted')
  end
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if op ~= 'keep' and op ~= 'raise' and op ~= 'heal' and ARGV[11] > attempt then
  attempt = ARGV[11]
end
redis.call('SET', KEYS[4], string.format('%.0f|', fence) .. attempt .. '|' .. owner, 'PX', ARGV[10])
redis.call('PEXPIRE', KEYS[5], ARGV[10])
return {1, fence, fresh}
