-- Undo the charges one decide.lua call applied, for a decision another
-- shard refused (Cluster only: see cluster.go).
-- KEYS: the keys decide.lua charged on this shard.
-- ARGV[1]: the "now" (µs) that decide.lua call returned.
-- Then 4 values per key: algorithm (tb|sw|fw), period (µs), rate, hits.
-- Exact whatever ran in between: a token bucket's arrival time moves back
-- by what the charge added, a fixed window gives back its hits if it is
-- still the same window, a sliding window drops the timestamps it pushed.
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local algo, period, rate, hits = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local key = KEYS[i]
  if algo == 'tb' then
    local tat = redis.call('GET', key)
    if tat then
      redis.call('SET', key, string.format('%.17g', tonumber(tat) - period / rate * hits), 'KEEPTTL')
    end
  elseif algo == 'fw' then
    local state = redis.call('HMGET', key, 'w', 'c')
    if tonumber(state[1]) == math.floor(now / period) then
      redis.call('HSET', key, 'c', math.max(0, tonumber(state[2]) - hits))
    end
  else
    redis.call('LREM', key, hits, string.format('%.0f', now))
  end
end
return 0
