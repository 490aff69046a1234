-- permit_limit_repair.lua: replace a node's differing permit limit record,
-- sent only after an acquisition with the caller's limit succeeded (so a
-- quorum of nodes records the caller's limit) to the nodes that refused it
-- for their record.
--
-- KEYS[1]  limit key  redlease:{R}:permits:limit
-- ARGV[1]  the record the node refused with
-- ARGV[2]  the caller's limit K
--
-- Sets the record to K only if it is still ARGV[1]; returns 1 if it did.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
