package main

import (
	"io"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/ratelimiter"
)

// Flags beat the policy's rate_limit_store, which beats the defaults.
func TestRateLimitStorePrecedence(t *testing.T) {
	fromPolicy := policytest.Load(t, "rate_limit_store: { redis: { addresses: [a:1, b:2], timeout: 20ms }, on_failure: fail_closed }\n").RateLimitStore
	cases := []struct {
		name  string
		args  []string
		store *policy.RateLimitStore
		want  ratelimiter.StoreConfig
	}{
		{"defaults: memory", nil, nil, ratelimiter.StoreConfig{Timeout: 50 * time.Millisecond, OnFailure: "fail_open", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"policy: cluster", nil, fromPolicy, ratelimiter.StoreConfig{Addrs: "a:1,b:2", Cluster: true, Timeout: 20 * time.Millisecond, OnFailure: "fail_closed", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"flags win", []string{"--redis", "r:6379", "--ratelimit-on-failure", "grace", "--redis-timeout", "80ms"}, fromPolicy,
			ratelimiter.StoreConfig{Addrs: "r:6379", Timeout: 80 * time.Millisecond, OnFailure: "grace", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"sentinel flags", []string{"--redis-addrs", "s1:1,s2:2", "--redis-master", "m"}, nil,
			ratelimiter.StoreConfig{Addrs: "s1:1,s2:2", SentinelMaster: "m", Timeout: 50 * time.Millisecond, OnFailure: "fail_open", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"credential flags", []string{"--redis", "r:6379", "--redis-username", "tg", "--redis-password-file", "/run/pw", "--redis-tls-ca", "/ca.pem", "--redis-sentinel-password-env", "SPW"}, policytest.Load(t, "rate_limit_store: { redis: { address: a:1, password_env: PW, tls: { server_name: x } } }\n").RateLimitStore,
			ratelimiter.StoreConfig{Addrs: "r:6379", Username: "tg", Password: ratelimiter.PasswordSource{File: "/run/pw"}, SentinelPassword: ratelimiter.PasswordSource{Env: "SPW"},
				TLS: ratelimiter.TLSFiles{Enabled: true, CA: "/ca.pem"}, Timeout: 50 * time.Millisecond, OnFailure: "fail_open", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"policy credentials", nil, policytest.Load(t, "rate_limit_store: { redis: { address: a:1, username: u, password_env: PW, tls: { server_name: x } } }\n").RateLimitStore,
			ratelimiter.StoreConfig{Addrs: "a:1", Username: "u", Password: ratelimiter.PasswordSource{Env: "PW"},
				TLS: ratelimiter.TLSFiles{Enabled: true, ServerName: "x"}, Timeout: 50 * time.Millisecond, OnFailure: "fail_open", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
		{"memory forced", []string{"--ratelimit-store", "memory"}, fromPolicy,
			ratelimiter.StoreConfig{Cluster: true, Timeout: 20 * time.Millisecond, OnFailure: "fail_closed", GracePeriod: 30 * time.Second, GraceThen: "fail_open"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServe(append([]string{"--policy", "p"}, tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.rl.storeConfig(tc.store); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRateLimitFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--ratelimit-store", "disk"},
		{"--redis", "a:1", "--redis-addrs", "b:1"},
		{"--ratelimit-store", "redis"},
		{"--ratelimit-on-failure", "maybe"},
		{"--redis-password-file", "f", "--redis-password-env", "E"},
		{"--redis-tls-cert", "c.pem"},
	} {
		if _, err := parseServe(append([]string{"--policy", "p"}, args...), io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
