package policy

import (
	"strings"
	"testing"
	"time"
)

const resilienceBase = "listeners: [{ name: l, port: 1 }]\n"

// Each case is a broken resilience setting and the errors it must produce,
// each as "line:col: text" in bad.yaml.
var invalidResilienceCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"negative limits", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    circuit_breaker: { max_connections: 0, max_pending: -1, max_requests: -5, max_retries: -1 }\n", []string{
		`4:41: services.a.circuit_breaker.max_connections: must be at least 1, got 0`,
		`4:57: services.a.circuit_breaker.max_pending: must be at least 0, got -1`,
		`4:75: services.a.circuit_breaker.max_requests: must be at least 1, got -5`,
		`4:92: services.a.circuit_breaker.max_retries: must be at least 0, got -1`,
	}},
	{"nested high priority", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    circuit_breaker: { high_priority: { high_priority: { max_requests: 1 } } }\n", []string{
		`4:56: services.a.circuit_breaker.high_priority.high_priority: high_priority cannot nest`,
	}},
	{"outlier values", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    outlier_detection: { consecutive_5xx: 0, interval: -1s, max_ejection_percent: 101, success_rate: { stdev_factor: 0 } }\n", []string{
		`4:43: services.a.outlier_detection.consecutive_5xx: must be at least 1, got 0`,
		`4:56: services.a.outlier_detection.interval: must be positive, got -1s`,
		`4:83: services.a.outlier_detection.max_ejection_percent: must be between 0 and 100, got 101`,
		`4:118: services.a.outlier_detection.success_rate.stdev_factor: must be positive, got 0`,
	}},
	{"health check without path", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    health_check: { interval: 0s, unhealthy_threshold: 0 }\n", []string{
		`4:19: services.a.health_check.path: an HTTP health check needs a path`,
		`4:31: services.a.health_check.interval: must be positive, got 0s`,
		`4:56: services.a.health_check.unhealthy_threshold: must be at least 1, got 0`,
	}},
	{"grpc health check with path", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    protocol: grpc\n    health_check: { path: /healthz }\n", []string{
		`5:27: services.a.health_check.path: a gRPC service is checked with the gRPC health protocol; remove path`,
	}},
	{"unknown protocol", "services:\n  a: { endpoints: [127.0.0.1:1], protocol: http3 }\n", []string{
		`2:44: services.a.protocol: unknown protocol "http3"`,
	}},
	{"retry budget", "services:\n  a: { endpoints: [127.0.0.1:1], retry_budget: { percent: 150, min_concurrency: -1 } }\n", []string{
		`2:59: services.a.retry_budget.percent: must be above 0 and at most 100, got 150`,
		`2:81: services.a.retry_budget.min_concurrency: must be at least 0, got -1`,
	}},
	// Envoy takes these counts as uint32: a larger one would wrap (2^32
	// requests becoming a limit of 0, which refuses every request).
	{"counts beyond uint32", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    circuit_breaker: { max_requests: 4294967296 }\n    health_check: { path: /h, healthy_threshold: 4294967297 }\n", []string{
		`4:38: services.a.circuit_breaker.max_requests: must be between 1 and 4294967295, got 4294967296`,
		`5:50: services.a.health_check.healthy_threshold: must be between 1 and 4294967295, got 4294967297`,
	}},
	{"per-try timeout larger than timeout", resilienceBase + "services: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: a, timeout: 1s, per_try_timeout: 2s, retries: { attempts: 1 } }\n", []string{
		`4:53: routes.r.per_try_timeout: per_try_timeout 2s is larger than the route's timeout 1s`,
	}},
	{"per-try timeout larger than service timeout", resilienceBase + "services: { a: { endpoints: [127.0.0.1:1], timeout: 500ms } }\nroutes:\n  - { name: r, to: a, per_try_timeout: 1s, retries: { attempts: 1 } }\n", []string{
		`4:40: routes.r.per_try_timeout: per_try_timeout 1s is larger than the route's timeout 500ms`,
	}},
	{"per-try timeout without retries", resilienceBase + "services: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: a, per_try_timeout: 1s }\n", []string{
		`4:40: routes.r.per_try_timeout: per_try_timeout bounds each try of a retrying route`,
	}},
	{"bad retries", resilienceBase + "services: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - name: r\n    to: a\n    timeout: 0s\n    retries: { attempts: 0, on: [5xx, sometimes], retriable_status_codes: [700], backoff: { base: 100ms, max: 10ms } }\n", []string{
		`6:14: routes.r.timeout: must be positive, got 0s`,
		`7:26: routes.r.retries.attempts: attempts (retries after the first try) must be between 1 and 10, got 0`,
		`7:33: routes.r.retries.on: unknown retry condition "sometimes"`,
		`7:75: routes.r.retries.retriable_status_codes: 700 is not an HTTP status`,
		`7:111: routes.r.retries.backoff.max: max 10ms is below base 100ms`,
	}},
	{"h2c with tls", "services:\n  a: { endpoints: [127.0.0.1:1], protocol: h2c, tls: { ca: ca.pem } }\n", []string{
		`2:44: services.a.protocol: h2c is cleartext HTTP/2; with tls use http2 (or grpc)`,
		`2:60: services.a.tls.ca: cannot read ca.pem: no such file or directory`,
	}},
}

func TestLoadRejectsImpossibleResilienceValues(t *testing.T) {
	for _, tc := range invalidResilienceCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestResilienceDefaults(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": resilienceBase + `
services:
  a:
    endpoints: [127.0.0.1:1]
    timeout: 2s
    circuit_breaker: { max_requests: 10, max_pending: 0 }
    outlier_detection: {}
    health_check: { path: /healthz }
    retry_budget: {}
routes:
  - { name: r, to: a, retries: { attempts: 2 } }
  - { name: own, to: a, timeout: 5s }
`}))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Services["a"]
	if cb := s.CircuitBreaker; cb.MaxRequests != 10 || cb.MaxPending != 0 || cb.MaxConnections != DefaultMaxConnections || cb.MaxRetries != DefaultMaxRetries {
		t.Errorf("circuit breaker defaults: %+v", cb)
	}
	if o := s.OutlierDetection; o.Consecutive5xx != 5 || o.Interval.D() != 10*time.Second || o.BaseEjectionTime.D() != 30*time.Second || o.MaxEjectionPercent != 10 {
		t.Errorf("outlier defaults: %+v", o)
	}
	if hc := s.HealthCheck; hc.Interval.D() != 10*time.Second || hc.Timeout.D() != time.Second || hc.HealthyThreshold != 2 || hc.UnhealthyThreshold != 3 {
		t.Errorf("health check defaults: %+v", hc)
	}
	if b := s.RetryBudget; b.Percent != 20 || b.MinConcurrency != 3 {
		t.Errorf("retry budget defaults: %+v", b)
	}
	if s.Protocol != HTTP1 {
		t.Errorf("protocol default %q", s.Protocol)
	}
	rt := p.Routes[0].Retries
	if strings.Join(rt.On, ",") != "gateway-error,reset,connect-failure,refused-stream" || rt.Backoff.Base.D() != 25*time.Millisecond || rt.Backoff.Max.D() != 250*time.Millisecond || rt.AllowWithIdempotencyKey {
		t.Errorf("retry defaults: %+v %+v", rt, rt.Backoff)
	}
	if got := p.RouteTimeout(p.Routes[0]); got != 2*time.Second {
		t.Errorf("route timeout from the service: %v", got)
	}
	if got := p.RouteTimeout(p.Routes[1]); got != 5*time.Second {
		t.Errorf("route's own timeout: %v", got)
	}
}
