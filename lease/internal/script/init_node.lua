-- init_node.lua: declare a node that has never served locks ready, so it
-- grants at once instead of sitting out a restart guard.
--
-- KEYS[1]  node key   redlease:node
--
-- Creates the node key with no guard and no window ("0:0:0:r") when it is
-- missing. A node key that exists is left as it is: a node already in its
-- guard window stays in it. Returns 1 when the key was created, 0 when it
-- existed.
--
-- Never run it on a node that may have served locks before (a node
-- restarted without persistence, flushed, or promoted from an empty
-- replica): it would grant at once while leases it granted before still
-- live elsewhere.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], '0:0:0:r')
return 1
