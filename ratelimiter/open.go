package ratelimiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/policy"
)

// StoreConfig is the effective store configuration: the policy's
// rate_limit_store with command-line flags applied over it. Comparable, so
// a reload that leaves it alone keeps the store (and its counters).
type StoreConfig struct {
	// Addrs empty means the memory store.
	Addrs          string // comma-separated
	SentinelMaster string
	Cluster        bool
	Username       string
	PasswordEnv    string
	DB             int
	Timeout        time.Duration
	OnFailure      Mode
	GracePeriod    time.Duration
	GraceThen      Mode
}

// FromPolicy is the store configuration a policy asks for.
func FromPolicy(s *policy.RateLimitStore) StoreConfig {
	// The deadline comes from the same policy value as Envoy's wait for
	// a decision (RateLimitStore.CallTimeout), so Envoy never gives up on
	// a decision Tollgate is still allowed to make.
	c := StoreConfig{Timeout: s.DecisionDeadline(), OnFailure: FailOpen, GracePeriod: policy.DefaultGracePeriod, GraceThen: FailOpen}
	if s == nil || s.Redis == nil {
		return c
	}
	r := s.Redis
	c.Addrs = r.Address
	if len(r.Addresses) > 0 {
		c.Addrs = strings.Join(r.Addresses, ",")
		c.Cluster = r.SentinelMaster == ""
	}
	c.SentinelMaster, c.Username, c.PasswordEnv, c.DB = r.SentinelMaster, r.Username, r.PasswordEnv, r.DB
	c.OnFailure = Mode(s.OnFailure)
	if g := s.Grace; g != nil {
		c.GracePeriod, c.GraceThen = g.Period.D(), Mode(g.Then)
	}
	return c
}

// Opened is a store ready for limiters, with its background work.
type Opened struct {
	Store  Store
	Remote bool
	// Close stops the background work and closes connections.
	Close func()
}

// heartbeatEvery is how often an instance announces itself in Redis; the
// live-instance count grace mode divides by is at most this stale.
const heartbeatEvery = 5 * time.Second

// Open builds the store a configuration describes: memory (swept every
// few seconds), or Redis behind the failure mode, with the instance
// heartbeat that grace mode needs.
func Open(c StoreConfig, log *slog.Logger, metrics *Metrics) (*Opened, error) {
	ctx, cancel := context.WithCancel(context.Background())
	if c.Addrs == "" {
		m := newMemoryStore(nil)
		go m.sweepEvery(ctx, 10*time.Second)
		return &Opened{Store: m, Close: cancel}, nil
	}
	addrs := splitComma(c.Addrs)
	client, err := c.RedisClient()
	if err != nil {
		cancel()
		return nil, err
	}
	fs := newFailoverStore(NewRedisStore(client, c.Timeout, metrics, nil), FailoverOptions{
		Mode: c.OnFailure, GracePeriod: c.GracePeriod, Then: c.GraceThen, Log: log, Metrics: metrics,
	})
	go fs.heartbeatEvery(ctx, client, instanceID(), heartbeatEvery)
	log.Info("rate limiting with Redis", "addresses", addrs, "sentinel_master", c.SentinelMaster, "cluster", c.Cluster, "timeout", c.Timeout.String(), "on_failure", string(c.OnFailure))
	return &Opened{Store: fs, Remote: true, Close: func() { cancel(); _ = client.Close() }}, nil
}

// RedisClient connects to the Redis c names, or returns nil for the
// memory store: the one way Tollgate reaches its Redis, so that other
// shared state (API keys' last use) goes where the counters go.
func (c StoreConfig) RedisClient() (redis.UniversalClient, error) {
	if c.Addrs == "" {
		return nil, nil
	}
	password := ""
	if c.PasswordEnv != "" {
		password = os.Getenv(c.PasswordEnv)
	}
	return NewRedisClient(RedisOptions{Addrs: splitComma(c.Addrs), SentinelMaster: c.SentinelMaster, Cluster: c.Cluster,
		Username: c.Username, Password: password, DB: c.DB, Timeout: c.Timeout}), nil
}

func splitComma(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// instanceID names this process among the instances sharing a Redis.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}
