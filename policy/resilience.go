package policy

// This file holds the resilience vocabulary of services and routes: how a
// service protects itself (circuit breaker, outlier detection, active health
// checks, its default timeout, its retry budget) and how a route waits and
// retries (timeouts, retries). Envoy enforces all of it; the translator in
// xds maps each type to one Envoy message.

// Protocol is how Envoy speaks to a service's endpoints.
type Protocol string

// The upstream protocols a service may use.
const (
	// HTTP1 is HTTP/1.1, the default.
	HTTP1 Protocol = "http1"
	// HTTP2 is HTTP/2: over TLS when the service has tls, with prior
	// knowledge (cleartext) otherwise.
	HTTP2 Protocol = "http2"
	// H2C is cleartext HTTP/2 with prior knowledge; it rules out tls.
	H2C Protocol = "h2c"
	// GRPC is HTTP/2 for a gRPC service; a health_check then uses the
	// gRPC health checking protocol instead of an HTTP path.
	GRPC Protocol = "grpc"
)

// UsesHTTP2 reports whether Envoy speaks HTTP/2 to the service.
func (p Protocol) UsesHTTP2() bool { return p == HTTP2 || p == H2C || p == GRPC }

// CircuitBreaker caps what Envoy sends a service at once, so that a slow
// service makes excess requests fail fast with 503 instead of queueing
// until everything times out. Unset limits take Envoy's defaults (1024
// connections, pending and active requests; 3 active retries).
type CircuitBreaker struct {
	Source `yaml:"-"`

	MaxConnections int `yaml:"max_connections"`
	// MaxPending is how many requests may wait for a connection (HTTP/1.1)
	// or a stream slot; beyond it requests get 503 at once.
	MaxPending  int `yaml:"max_pending"`
	MaxRequests int `yaml:"max_requests"`
	MaxRetries  int `yaml:"max_retries"`
	// HighPriority sets the limits of high-priority traffic; Tollgate
	// routes send default priority, so this only matters to other Envoy
	// configuration sharing the cluster. It may not nest further.
	HighPriority *CircuitBreaker `yaml:"high_priority"`
}

// OutlierDetection ejects an endpoint that keeps failing from the load
// balancing set for a while, then lets it take traffic again ("tried again
// after an interval"). Each ejection of the same endpoint lasts longer:
// base_ejection_time times the number of times it was ejected.
type OutlierDetection struct {
	Source `yaml:"-"`

	// Consecutive5xx ejects after this many 5xx answers (or connection
	// failures) in a row.
	Consecutive5xx int `yaml:"consecutive_5xx"`
	// ConsecutiveGatewayFailure ejects after this many 502, 503, 504 or
	// connection failures in a row.
	ConsecutiveGatewayFailure int `yaml:"consecutive_gateway_failure"`
	// SuccessRate ejects endpoints whose success rate is far below the
	// others'.
	SuccessRate *SuccessRate `yaml:"success_rate"`
	// Interval is how often ejections are evaluated and ended. Default 10s.
	Interval Duration `yaml:"interval"`
	// BaseEjectionTime is how long a first ejection lasts. Default 30s.
	BaseEjectionTime Duration `yaml:"base_ejection_time"`
	// MaxEjectionPercent caps the share of endpoints ejected at once
	// (at least one may always be ejected). Default 10.
	MaxEjectionPercent int `yaml:"max_ejection_percent"`
}

// SuccessRate is statistical outlier detection: an endpoint whose success
// rate is below mean - stdev_factor * stdev of all endpoints is ejected.
type SuccessRate struct {
	Source `yaml:"-"`

	// MinimumHosts is how many endpoints need enough requests for the
	// statistics to apply. Default 5.
	MinimumHosts int `yaml:"minimum_hosts"`
	// RequestVolume is how many requests an endpoint needs in an interval
	// to take part. Default 100.
	RequestVolume int `yaml:"request_volume"`
	// StdevFactor multiplies the standard deviation. Default 1.9.
	StdevFactor float64 `yaml:"stdev_factor"`
}

// HealthCheck is Envoy actively probing each endpoint: an endpoint that
// fails unhealthy_threshold probes in a row leaves the rotation, and comes
// back after healthy_threshold successes.
type HealthCheck struct {
	Source `yaml:"-"`

	// Path is the HTTP path probed with GET; a 200 is healthy. gRPC
	// services use the gRPC health protocol and take no path.
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`            // default 10s
	Timeout            Duration `yaml:"timeout"`             // default 1s
	HealthyThreshold   int      `yaml:"healthy_threshold"`   // default 2
	UnhealthyThreshold int      `yaml:"unhealthy_threshold"` // default 3
}

// RetryBudget bounds the retries in flight to a service to a share of its
// active requests, so that retries cannot multiply an outage. Envoy keeps
// the budget per service (cluster), over every route that retries to it.
type RetryBudget struct {
	Source `yaml:"-"`

	// Percent of active requests that may be retries. Default 20.
	Percent float64 `yaml:"percent"`
	// MinConcurrency is how many retries are always allowed, however few
	// requests are active. Default 3.
	MinConcurrency int `yaml:"min_concurrency"`
}

// Retries says when Envoy tries a request again. Only idempotent methods
// (GET, HEAD, OPTIONS) are retried, plus, where AllowWithIdempotencyKey is
// set, requests of any method carrying an Idempotency-Key header: the
// client promises the service deduplicates them.
type Retries struct {
	Source `yaml:"-"`

	// Attempts is how many times a request may be retried after the first
	// try. Required, 1 to 10.
	Attempts int `yaml:"attempts"`
	// On lists the conditions to retry on (Envoy's retry_on names).
	// Default [gateway-error, reset, connect-failure, refused-stream].
	On []string `yaml:"on"`
	// RetriableStatusCodes are further statuses to retry on.
	RetriableStatusCodes []int    `yaml:"retriable_status_codes"`
	Backoff              *Backoff `yaml:"backoff"`
	// AllowWithIdempotencyKey also retries non-idempotent methods when the
	// request carries an Idempotency-Key header.
	AllowWithIdempotencyKey bool `yaml:"allow_with_idempotency_key"`
}

// Backoff is the jittered exponential pause between tries.
type Backoff struct {
	Source `yaml:"-"`

	Base Duration `yaml:"base"` // default 25ms
	Max  Duration `yaml:"max"`  // default 10 times base
}

// RetryConditions are the retry_on conditions a policy may name.
var RetryConditions = []string{
	"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "refused-stream",
	"retriable-4xx", "retriable-status-codes", "http3-post-connect-failure",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

// IdempotentMethods are the methods retried without an Idempotency-Key.
var IdempotentMethods = []string{"GET", "HEAD", "OPTIONS"}

// IdempotencyKeyHeader is the header with which a client makes a
// non-idempotent request safe to retry on routes that allow it.
const IdempotencyKeyHeader = "idempotency-key"
