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
	// Password is the nodes' password (FromPolicy resolves the policy's
	// file against the policy file's directory).
	Password         PasswordSource
	SentinelUsername string
	SentinelPassword PasswordSource
	TLS              TLSFiles
	DB               int
	Timeout          time.Duration
	OnFailure        Mode
	GracePeriod      time.Duration
	GraceThen        Mode
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
	c.SentinelMaster, c.Username, c.DB = r.SentinelMaster, r.Username, r.DB
	c.Password = PasswordSource{Env: r.PasswordEnv, File: policy.ResolvePath(r.Source, "password_file", r.PasswordFile)}
	if t := r.TLS; t != nil {
		c.TLS = TLSFiles{Enabled: true, ServerName: t.ServerName,
			CA:   policy.ResolvePath(t.Source, "ca", t.CA),
			Cert: policy.ResolvePath(t.Source, "cert", t.Cert),
			Key:  policy.ResolvePath(t.Source, "key", t.Key)}
	}
	if s := r.Sentinel; s != nil {
		c.SentinelUsername = s.Username
		c.SentinelPassword = PasswordSource{Env: s.PasswordEnv, File: policy.ResolvePath(s.Source, "password_file", s.PasswordFile)}
	}
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
	opts, err := c.redisOptions(addrs)
	if err != nil {
		cancel()
		return nil, err
	}
	client := NewRedisClient(opts)
	fs := newFailoverStore(NewRedisStore(client, c.Timeout, metrics, nil), FailoverOptions{
		Mode: c.OnFailure, GracePeriod: c.GracePeriod, Then: c.GraceThen, Log: log, Metrics: metrics,
	})
	go fs.heartbeatEvery(ctx, client, instanceID(), heartbeatEvery)
	// Says whether a password is used, never the password.
	log.Info("rate limiting with Redis", "addresses", addrs, "sentinel_master", c.SentinelMaster, "cluster", c.Cluster,
		"tls", c.TLS.Enabled, "username", c.Username, "password", c.Password.set(), "timeout", c.Timeout.String(), "on_failure", string(c.OnFailure))
	return &Opened{Store: fs, Remote: true, Close: func() { cancel(); _ = client.Close() }}, nil
}

// redisOptions turns the configuration into client options, reading what
// must be read now: the Sentinels' password and the TLS CA. A password or
// file that is missing now is an error, so that a policy naming it is
// refused at load instead of failing every decision; the nodes' password
// is read again for every new connection.
func (c StoreConfig) redisOptions(addrs []string) (RedisOptions, error) {
	o := RedisOptions{Addrs: addrs, SentinelMaster: c.SentinelMaster, Cluster: c.Cluster,
		Username: c.Username, SentinelUsername: c.SentinelUsername, DB: c.DB, Timeout: c.Timeout}
	if src := c.Password; src.set() {
		if _, err := src.read(); err != nil {
			return o, err
		}
		o.Credentials = credentials(c.Username, src)
	}
	var err error
	if o.SentinelPassword, err = c.SentinelPassword.read(); err != nil {
		return o, fmt.Errorf("sentinel: %w", err)
	}
	if o.TLS, err = c.TLS.tlsConfig(); err != nil {
		return o, err
	}
	return o, nil
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
