-- One rate-limit decision, atomically, in one round trip.
-- KEYS: one per charge (same hash tag, so one slot in a Cluster).
-- ARGV[1]: "now" in microseconds, or "" to use Redis's clock (TIME), so
--          gateway clocks may disagree.
-- Then 6 values per charge: algorithm (tb|sw|fw), limit, period (µs),
--          rate, hits, shadow (1|0).
-- Returns 4 integers per charge: allowed (1|0), remaining, reset (µs),
-- retry_after (µs), then "now" (µs), which a refund (refund.lua) of this
-- decision needs. Every non-shadow charge must admit, or nothing is
-- written: no limit is charged for a request another limit refused.
-- The arithmetic mirrors algorithm.go exactly (float64 on both sides).
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local out, apply, enforced_ok = {}, {}, true
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 6
  local algo, limit, period = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local rate, hits, shadow = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]), ARGV[b + 6] == '1'
  local key = KEYS[i]
  local allowed, remaining, reset, retry = 0, 0, 0, 0
  if algo == 'tb' then
    local t = period / rate
    local tau = t * limit
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    local newtat = tat + t * hits
    if newtat - now > tau then
      remaining = math.max(0, math.floor((tau - (tat - now)) / t))
      reset, retry = math.ceil(tat - now), math.ceil(newtat - now - tau)
    else
      allowed, remaining, reset = 1, math.floor((tau - (newtat - now)) / t), math.ceil(newtat - now)
      apply[i] = function()
        redis.call('SET', key, string.format('%.17g', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1)
      end
    end
  elseif algo == 'fw' then
    local win = math.floor(now / period)
    local state = redis.call('HMGET', key, 'w', 'c')
    local count = 0
    if tonumber(state[1]) == win then count = tonumber(state[2]) end
    reset = period - now % period
    if count + hits > limit then
      remaining, retry = math.max(0, limit - count), reset
    else
      allowed, remaining = 1, limit - count - hits
      apply[i] = function()
        redis.call('HSET', key, 'w', win, 'c', count + hits)
        redis.call('PEXPIRE', key, math.ceil(reset / 1000) + 1)
      end
    end
  else -- sw: admitted times, newest first; trimming is amortised O(1)
    local cutoff = now - period
    while true do
      local oldest = redis.call('LINDEX', key, -1)
      if not oldest or tonumber(oldest) > cutoff then break end
      redis.call('RPOP', key)
    end
    local count = redis.call('LLEN', key)
    local oldest = tonumber(redis.call('LINDEX', key, -1) or now)
    reset = math.max(1, oldest + period - now)
    if count + hits > limit then
      remaining, retry = math.max(0, limit - count), reset
    else
      allowed, remaining = 1, limit - count - hits
      apply[i] = function()
        for _ = 1, hits do redis.call('LPUSH', key, string.format('%.0f', now)) end
        redis.call('LTRIM', key, 0, limit - 1)
        redis.call('PEXPIRE', key, math.ceil(period / 1000) + 1)
      end
    end
  end
  if allowed == 0 and not shadow then enforced_ok = false end
  local o = (i - 1) * 4
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = allowed, remaining, reset, retry
end

if enforced_ok then
  for i = 1, #KEYS do
    if apply[i] then apply[i]() end
  end
end
out[#out + 1] = now
return out
