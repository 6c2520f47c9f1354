package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/ratelimiter"
)

// API keys' last-used times go where the rate-limit counters go: to the
// Redis of the rate-limit store when one is configured (the policy's
// rate_limit_store, or the --redis flags), so that every replica writes
// into, and `tollgate keys list --redis` reads, one view; else beside the
// keys file, per replica. The Redis side lives here, in the wiring, so
// that authz knows nothing of Redis (nor of ratelimiter).

// usageKey is the Redis hash of last-used times: one field per key id, its
// value in unix seconds. One hash, so one slot of a Cluster: it takes one
// write per replica per --key-usage-flush, not one per request.
const usageKey = "tollgate:api-keys:last-used"

// mergeUsage keeps, for each key id, the later of the stored and the given
// time, in one round trip and atomically, so that concurrent replicas
// never move a time back.
var mergeUsage = redis.NewScript(`
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
`)

// redisUsage is the authz.UsageStore every replica sharing a Redis shares.
type redisUsage struct{ client redis.UniversalClient }

var _ authz.UsageStore = redisUsage{}

// Merge records times, keeping the later of each.
func (r redisUsage) Merge(ctx context.Context, times map[string]time.Time) error {
	if len(times) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(times))
	for id, t := range times {
		args = append(args, id, t.Unix())
	}
	return mergeUsage.Run(ctx, r.client, []string{usageKey}, args...).Err()
}

// Read returns every stored time.
func (r redisUsage) Read(ctx context.Context) (map[string]time.Time, error) {
	fields, err := r.client.HGetAll(ctx, usageKey).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(fields))
	for id, v := range fields {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis %s: key %q: last-used time %q is not unix seconds", usageKey, id, v)
		}
		out[id] = time.Unix(sec, 0).UTC()
	}
	return out, nil
}

// String names the store in logs.
func (redisUsage) String() string { return "redis " + usageKey }

// sharedUsage follows the serving generation's rate-limit store: a Redis
// client while it names a Redis, none otherwise. Guarded by mu: the
// reloader sets it, the flusher reads it.
type sharedUsage struct {
	log *slog.Logger

	mu     sync.Mutex
	cfg    ratelimiter.StoreConfig
	client redis.UniversalClient
}

// use switches to the Redis cfg names (or to none), keeping the client
// when the configuration is unchanged.
func (s *sharedUsage) use(cfg ratelimiter.StoreConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && cfg == s.cfg {
		return
	}
	s.closeLocked()
	client, err := usageClient(cfg, 5*time.Second)
	if err != nil {
		// The rate-limit stage refuses such a generation first.
		s.log.Warn("API key last-used times: cannot reach the rate-limit store's Redis", "error", err)
	}
	s.cfg, s.client = cfg, client
	if s.client != nil {
		s.log.Info("API key last-used times go to Redis", "addresses", cfg.Addrs, "key", usageKey)
	}
}

// usageClient is a client for the Redis of cfg (nil: none) whose commands
// may take up to timeout: the store's decision deadline (50ms by default)
// is for requests waiting on a decision, not for a background flush or a
// command line.
func usageClient(cfg ratelimiter.StoreConfig, timeout time.Duration) (redis.UniversalClient, error) {
	cfg.Timeout = timeout
	return cfg.RedisClient()
}

// store is where to flush now: nil (beside the keys file) without Redis.
func (s *sharedUsage) store() authz.UsageStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	return redisUsage{s.client}
}

func (s *sharedUsage) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// closeLocked closes the client; a flush still using it fails, and the
// next one writes the same times to the new store. Callers hold mu.
func (s *sharedUsage) closeLocked() {
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// lastUsed merges the last-used file of a keys file with the Redis cfg
// names, if any, keeping the later time of each key.
func lastUsed(keysFile string, cfg ratelimiter.StoreConfig) (map[string]time.Time, error) {
	used, err := authz.ReadUsage(authz.UsagePath(keysFile))
	if err != nil {
		return nil, fmt.Errorf("reading last-used times: %w", err)
	}
	client, err := usageClient(cfg, 10*time.Second)
	if err != nil || client == nil {
		return used, err
	}
	defer func() { _ = client.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shared, err := redisUsage{client}.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading last-used times from Redis %s: %w", cfg.Addrs, err)
	}
	for id, t := range shared {
		if t.After(used[id]) {
			used[id] = t
		}
	}
	return used, nil
}

// policyStore is the rate-limit store of the policy in dir ("": none), so
// that `keys list --policy` reaches the Redis the replicas write to with
// the same address, TLS and password.
func policyStore(dir string) (*policy.RateLimitStore, error) {
	if dir == "" {
		return nil, nil
	}
	p, err := policy.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	return p.RateLimitStore, nil
}
