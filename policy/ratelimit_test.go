package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const rateLimitPolicy = `
listeners: [{ name: public, port: 8080 }]
services: { orders: { endpoints: [127.0.0.1:9001] } }
routes:
  - { name: orders, to: orders, rate_limits: [per-ip-anonymous, per-client, gold, per-route] }
rate_limits:
  per-ip-anonymous: { when: anonymous, key: [client_ip], token_bucket: { rate: 10/s, burst: 20 } }
  per-client: { when: authenticated, key: [client_id, header:X-Tenant], sliding_window: { limit: 1000, window: 1m } }
  gold: { key: [client_id], token_bucket: { rate: 100/10s }, headers: true }
  per-route: { key: [route], fixed_window: { limit: 50, window: 1s }, shadow: true }
tiers:
  gold: { rate_limits: [gold] }
  free: {}
rate_limit_store:
  redis: { addresses: [127.0.0.1:7000, 127.0.0.1:7001] }
  on_failure: grace
`

func TestLoadRateLimits(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": rateLimitPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	ip := p.RateLimits["per-ip-anonymous"]
	if ip.Algorithm() != TokenBucketAlgorithm || ip.TokenBucket.Rate != (Rate{10, time.Second}) || ip.TokenBucket.Burst != 20 {
		t.Errorf("per-ip-anonymous: %+v", ip.TokenBucket)
	}
	if g := p.RateLimits["gold"]; g.TokenBucket.Burst != 100 || g.TokenBucket.Rate.Per != 10*time.Second || strings.Join(g.Tiers, ",") != "gold" {
		t.Errorf("gold: burst %d rate %v tiers %v", g.TokenBucket.Burst, g.TokenBucket.Rate, g.Tiers)
	}
	pc := p.RateLimits["per-client"]
	if len(pc.Parts) != 2 || pc.Parts[1] != (KeyPart{Dimension: KeyHeader, Header: "x-tenant"}) {
		t.Errorf("per-client parts: %+v", pc.Parts)
	}
	s := p.RateLimitStore
	if s.OnFailure != Grace || s.Grace.Period.D() != 30*time.Second || s.Grace.Then != FailOpen || s.Redis.Timeout.D() != 50*time.Millisecond {
		t.Errorf("store defaults: %+v %+v %+v", s, s.Grace, s.Redis)
	}
	var names []string
	for _, l := range p.RateLimitsFor(p.Routes[0]) {
		names = append(names, l.Name)
	}
	if strings.Join(names, ",") != "per-ip-anonymous,per-client,gold,per-route" {
		t.Errorf("RateLimitsFor: %v", names)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{"10/s": {10, time.Second}, "600/m": {600, time.Minute}, "5/h": {5, time.Hour}, "1/d": {1, 24 * time.Hour}, "100/10s": {100, 10 * time.Second}} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10", "0/s", "-1/s", "x/s", "10/fortnight", "10/-1s", "10/"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

var invalidRateLimitCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"no algorithm", "rate_limits:\n  a: { key: [client_ip] }\n", []string{`2:6: rate_limits.a: set exactly one of token_bucket, sliding_window and fixed_window`}},
	{"two algorithms", "rate_limits:\n  a: { token_bucket: { rate: 1/s }, fixed_window: { limit: 1, window: 1s } }\n", []string{`2:6: rate_limits.a: set exactly one of`}},
	{"bad rate", "rate_limits:\n  a: { token_bucket: { rate: ten/s } }\n", []string{`2:30: rate_limits.a.token_bucket.rate: invalid rate "ten/s"`}},
	{"missing rate", "rate_limits:\n  a: { token_bucket: { burst: 3 } }\n", []string{`2:22: rate_limits.a.token_bucket.rate: a token bucket needs a rate`}},
	{"bad key and when", "rate_limits:\n  a: { when: admins, key: [ip], fixed_window: { limit: 1, window: 1s } }\n", []string{
		`2:14: rate_limits.a.when: unknown condition "admins"`,
		`2:27: rate_limits.a.key[0]: unknown key "ip"`,
	}},
	{"sliding window too large", "rate_limits:\n  a: { sliding_window: { limit: 1000000, window: 1h } }\n", []string{`2:33: rate_limits.a.sliding_window.limit: limit must be between 1 and 100000, got 1000000`}},
	{"window missing", "rate_limits:\n  a: { fixed_window: { limit: 5 } }\n", []string{`2:22: rate_limits.a.fixed_window.window: needs a positive window`}},
	{"unknown limit on route", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: a, rate_limits: [nope] }\n", []string{`4:36: routes.r.rate_limits[0]: unknown rate limit "nope"`}},
	{"unknown limit on an unnamed route", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { to: a, rate_limits: [nope] }\n", []string{
		`4:5: routes[0]: route needs a name`,
		`4:27: routes[0].rate_limits[0]: unknown rate limit "nope"`,
	}},
	{"tier conflicts", "rate_limits:\n  a: { when: anonymous, token_bucket: { rate: 1/s } }\n  b: { when: tier:gold, token_bucket: { rate: 1/s } }\ntiers:\n  gold: { rate_limits: [a, c] }\n  free: { rate_limits: [b] }\n", []string{
		`5:24: tiers.gold.rate_limits[0]: rate limit "a" applies to anonymous requests, which have no tier`,
		`5:24: tiers.gold.rate_limits[1]: unknown rate limit "c"`,
		`6:24: tiers.free.rate_limits[0]: rate limit "b" already says when: tier:gold`,
	}},
	{"unknown tier", "rate_limits:\n  a: { when: tier:platinum, token_bucket: { rate: 1/s } }\ntiers: { gold: {} }\n", []string{`2:14: rate_limits.a.when: unknown tier "platinum"`}},
	{"bad store", "rate_limit_store:\n  redis: { address: localhost, addresses: [a:1], timeout: 0s }\n  on_failure: retry\n  grace: { then: grace }\n", []string{
		`2:10: rate_limit_store.redis: set exactly one of address`,
		`2:21: rate_limit_store.redis.addresses[0]: "localhost" is not host:port`,
		`2:59: rate_limit_store.redis.timeout: must be positive`,
		`3:15: rate_limit_store.on_failure: unknown failure mode "retry"`,
		`4:10: rate_limit_store.grace: grace only applies with on_failure: grace`,
		`4:18: rate_limit_store.grace.then: unknown mode "grace"`,
	}},
	{"credential header as key", "rate_limits:\n  a: { key: [header:X-API-Key], token_bucket: { rate: 1/s } }\n  b: { key: [client_ip, header:authorization], token_bucket: { rate: 1/s } }\n  c: { key: [header:x-key], token_bucket: { rate: 1/s } }\n  d: { key: [header:x-tenant], token_bucket: { rate: 1/s } }\nauth: { api_keys: { file: keys/k.yaml, header: X-Key, optional: true } }\n", []string{
		`2:13: rate_limits.a.key[0]: header:x-api-key carries a credential`,
		`3:13: rate_limits.b.key[1]: header:authorization carries a credential`,
		`4:13: rate_limits.c.key[0]: header:x-key carries a credential`,
	}},
	{"gateway-set header as key", "listeners:\n  - { name: cdn, port: 1, keep_client_headers: [cf-connecting-ip] }\nrate_limits:\n  a: { key: [header:X-Forwarded-For], token_bucket: { rate: 1/s } }\n  b: { key: [header:x-real-ip], token_bucket: { rate: 1/s } }\n  c: { key: [header:x-tollgate-client-id], token_bucket: { rate: 1/s } }\n  d: { key: [header:true-client-ip], token_bucket: { rate: 1/s } }\n  e: { key: [header:cf-connecting-ip], token_bucket: { rate: 1/s } }\n", []string{
		`4:13: rate_limits.a.key[0]: header:x-forwarded-for is set or removed by the gateway`,
		`5:13: rate_limits.b.key[0]: header:x-real-ip is set or removed by the gateway`,
		`6:13: rate_limits.c.key[0]: header:x-tollgate-client-id is set or removed by the gateway`,
		`7:13: rate_limits.d.key[0]: header:true-client-ip is set or removed by the gateway`,
	}},
	{"too many parts and limits", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: a, rate_limits: [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12, l13, l14, l15, l16, l17, l18, l19, l20, l21, l22, l23, l24, l25, l26, l27, l28, l29, l30, l31, l32] }\nrate_limits:\n  l0: { key: [client_ip, header:a, header:b, header:c, header:d, header:e, header:f, header:g, header:h], token_bucket: { rate: 1/s } }\n  l1: { token_bucket: { rate: 1/s } }\n  l2: { token_bucket: { rate: 1/s } }\n  l3: { token_bucket: { rate: 1/s } }\n  l4: { token_bucket: { rate: 1/s } }\n  l5: { token_bucket: { rate: 1/s } }\n  l6: { token_bucket: { rate: 1/s } }\n  l7: { token_bucket: { rate: 1/s } }\n  l8: { token_bucket: { rate: 1/s } }\n  l9: { token_bucket: { rate: 1/s } }\n  l10: { token_bucket: { rate: 1/s } }\n  l11: { token_bucket: { rate: 1/s } }\n  l12: { token_bucket: { rate: 1/s } }\n  l13: { token_bucket: { rate: 1/s } }\n  l14: { token_bucket: { rate: 1/s } }\n  l15: { token_bucket: { rate: 1/s } }\n  l16: { token_bucket: { rate: 1/s } }\n  l17: { token_bucket: { rate: 1/s } }\n  l18: { token_bucket: { rate: 1/s } }\n  l19: { token_bucket: { rate: 1/s } }\n  l20: { token_bucket: { rate: 1/s } }\n  l21: { token_bucket: { rate: 1/s } }\n  l22: { token_bucket: { rate: 1/s } }\n  l23: { token_bucket: { rate: 1/s } }\n  l24: { token_bucket: { rate: 1/s } }\n  l25: { token_bucket: { rate: 1/s } }\n  l26: { token_bucket: { rate: 1/s } }\n  l27: { token_bucket: { rate: 1/s } }\n  l28: { token_bucket: { rate: 1/s } }\n  l29: { token_bucket: { rate: 1/s } }\n  l30: { token_bucket: { rate: 1/s } }\n  l31: { token_bucket: { rate: 1/s } }\n  l32: { token_bucket: { rate: 1/s } }\n", []string{
		`4:36: routes.r.rate_limits: a route names at most 32 rate limits, got 33`,
		`6:14: rate_limits.l0.key: a key has at most 8 parts, got 9`,
	}},
	{"redis password in clear", "rate_limit_store:\n  redis: { address: r:6379, password: hunter2, sentinel_master: m, sentinel: { password: hunter3 } }\n", []string{
		`2:39: rate_limit_store.redis.password: a password is never written in a policy: name an environment variable (password_env) or a file (password_file) that holds it`,
		`2:90: rate_limit_store.redis.sentinel.password: a password is never written in a policy`,
	}},
	{"redis credentials and tls", "rate_limit_store:\n  redis:\n    address: r:6379\n    password_env: A\n    password_file: secrets/missing\n    tls: { cert: certs/c.pem, ca: certs/ca.pem }\n    sentinel: { password_env: 1X }\n", []string{
		`5:20: rate_limit_store.redis.password_file: set password_env or password_file, not both`,
		`5:20: rate_limit_store.redis.password_file: cannot read secrets/missing: no such file or directory`,
		`6:10: rate_limit_store.redis.tls: set both cert and key (a client certificate), or neither`,
		`6:35: rate_limit_store.redis.tls.ca: cannot read certs/ca.pem: no such file or directory`,
		`6:18: rate_limit_store.redis.tls.cert: cannot read certs/c.pem: no such file or directory`,
		`7:15: rate_limit_store.redis.sentinel: sentinel credentials apply to Sentinels; set sentinel_master too`,
		`7:31: rate_limit_store.redis.sentinel.password_env: "1X" is not an environment variable name`,
	}},
	{"on_failure without redis", "rate_limit_store: { on_failure: fail_closed }\n", []string{`1:33: rate_limit_store.on_failure: on_failure applies to a Redis store`}},
}

func TestLoadRejectsInvalidRateLimitsWithPositions(t *testing.T) {
	for _, tc := range invalidRateLimitCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

// TestEnvoyFollowsTheStoreWhenTollgateIsAway checks what Envoy is told to
// do when Tollgate's rate-limit service does not answer: wait the
// decision deadline plus the margin, then apply the store's mode (grace
// cannot be applied without Tollgate, so its `then` is).
func TestEnvoyFollowsTheStoreWhenTollgateIsAway(t *testing.T) {
	const redis = "listeners: [{ name: public, port: 8080 }]\nrate_limit_store: { redis: { address: 127.0.0.1:6379%s }%s }\n"
	cases := []struct {
		name, timeout, failure string
		deadline               time.Duration
		mode                   FailureMode
	}{
		{"memory store", "", "", DefaultRedisTimeout, FailOpen},
		{"redis, defaults", "-", "", DefaultRedisTimeout, FailOpen},
		{"fail_closed, 80ms", ", timeout: 80ms", ", on_failure: fail_closed", 80 * time.Millisecond, FailClosed},
		{"fail_open", "", ", on_failure: fail_open", DefaultRedisTimeout, FailOpen},
		{"grace then fail_open", "", ", on_failure: grace", DefaultRedisTimeout, FailOpen},
		{"grace then fail_closed", "", ", on_failure: grace, grace: { then: fail_closed }", DefaultRedisTimeout, FailClosed},
	}
	for _, tc := range cases {
		doc := "listeners: [{ name: public, port: 8080 }]\n"
		if tc.timeout != "" || tc.failure != "" {
			doc = fmt.Sprintf(redis, strings.TrimPrefix(tc.timeout, "-"), tc.failure)
		}
		p, err := Load(writePolicy(t, map[string]string{"g.yaml": doc}))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s := p.RateLimitStore
		if got := s.DecisionDeadline(); got != tc.deadline {
			t.Errorf("%s: decision deadline %v, want %v", tc.name, got, tc.deadline)
		}
		if got := s.CallTimeout(); got != tc.deadline+RateLimitCallMargin {
			t.Errorf("%s: Envoy waits %v, want %v", tc.name, got, tc.deadline+RateLimitCallMargin)
		}
		if got := s.UnreachableMode(); got != tc.mode {
			t.Errorf("%s: mode when Tollgate is away %q, want %q", tc.name, got, tc.mode)
		}
	}
}
