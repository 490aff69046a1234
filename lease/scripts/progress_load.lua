-- progress_load.lua: read a scope section's progress.
--
-- KEYS[1]  progress key  redlease:{R}:progress:<holder> (a hash)
-- ARGV[1]  the field: which section (its activity id)
--
-- Returns "<token>:<seq>:<progress>", or "" when there is none.
return redis.call('HGET', KEYS[1], ARGV[1]) or ''
