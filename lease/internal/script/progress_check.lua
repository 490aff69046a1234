-- progress_check.lua: the first round of a progress save (see
-- scope_progress.go): may the saving attempt still count here?
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- ARGV[1]  the scope's owner value
-- ARGV[2]  the saving attempt's token
--
-- Returns 1 when the scope holds the lock here and the counter is not past
-- the token: no newer attempt took a token here, and no release marked it.
-- Returns 0 when the counter is past the token (a newer attempt took one,
-- or the lock was released since: release.lua advances it): the attempt is
-- fenced out here. Returns 2 when the lock is not the scope's but the
-- counter did not move (it expired, or the node lost it): not a proof.
-- Writes nothing: a save that a quorum checked is written by
-- progress_commit.lua.
if tonumber(redis.call('GET', KEYS[2]) or '0') > tonumber(ARGV[2]) then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 2
end
return 1
