package policy

import (
	"slices"
	"time"
)

// The values a policy gets for fields it leaves out, all in this file. Load
// applies them (applyDefaults and the per-feature functions it calls);
// consumers read the resolved values and never default a field again.
// Defaults (defaults_table.go) lists every one, as docs/policy.md does.

// Listener, service and route defaults.
const (
	DefaultListenerAddress = "0.0.0.0"
	DefaultConnectTimeout  = 2 * time.Second
	DefaultEndpointWeight  = 1
	// defaultSoleDestinationWeight is the weight of a route's only
	// service (a split needs every weight written).
	defaultSoleDestinationWeight = 1
	// DefaultPathPrefix is the match of a route that writes no path form.
	DefaultPathPrefix = "/"
	// DefaultRouteTimeout is Envoy's request timeout for a route that sets
	// none and whose services set none either.
	DefaultRouteTimeout = 15 * time.Second
	// DefaultRedirectStatus is a temporary redirect, which clients and
	// caches do not remember: a permanent one must be asked for.
	DefaultRedirectStatus = 302
	// DefaultDirectResponseContentType is the type of a direct
	// response's body when the route names none.
	DefaultDirectResponseContentType = "text/plain; charset=utf-8"
)

// defaultListenerHosts are the hosts of a listener that lists none.
var defaultListenerHosts = []string{"*"}

// Defaults of the resilience and TLS fields. Circuit breaker limits are
// Envoy's own defaults, written out so that the configuration Envoy
// receives says what it enforces.
const (
	DefaultMaxConnections       = 1024
	DefaultMaxPending           = 1024
	DefaultMaxRequests          = 1024
	DefaultMaxRetries           = 3
	DefaultConsecutive5xx       = 5
	DefaultOutlierInterval      = 10 * time.Second
	DefaultBaseEjectionTime     = 30 * time.Second
	DefaultMaxEjectionPercent   = 10
	DefaultHealthCheckInterval  = 10 * time.Second
	DefaultHealthCheckTimeout   = time.Second
	DefaultHealthyThreshold     = 2
	DefaultUnhealthyThreshold   = 3
	DefaultRetryBudgetPercent   = 20
	DefaultRetryMinConcurrency  = 3
	DefaultRetryBackoffBase     = 25 * time.Millisecond
	DefaultSuccessRateMinHosts  = 5
	DefaultSuccessRateVolume    = 100
	DefaultSuccessRateStdev     = 1.9
	DefaultTLSMinVersion        = TLS12
	defaultRetryBackoffMaxRatio = 10
)

// DefaultRetryOn are the retry conditions of a route that names none: the
// failures where the service most likely did not act on the request.
var DefaultRetryOn = []string{"gateway-error", "reset", "connect-failure", "refused-stream"}

// The auth defaults.
const (
	DefaultAuthzTimeout = 200 * time.Millisecond
	// DefaultAPIKeyHeader is the header API keys are read from by default.
	DefaultAPIKeyHeader = "X-API-Key"
	DefaultJWTLeeway    = 30 * time.Second
	DefaultJWKSRefresh  = 5 * time.Minute
	DefaultJWKSMaxStale = time.Hour
	DefaultScopesClaim  = "scope"
	DefaultRolesClaim   = "roles"
)

// DefaultAlgorithms a JWT provider accepts when it lists none.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// Rate-limit defaults.
const (
	DefaultRedisTimeout = 50 * time.Millisecond
	DefaultGracePeriod  = 30 * time.Second
)

// The defaults of the observability blocks.
const (
	DefaultAccessLogPath      = "/dev/stdout"
	DefaultTracingServiceName = "tollgate"
	DefaultSamplePercent      = 100.0
)

// DefaultMaxRemovedRoutesPercent is the reload guard's default.
const DefaultMaxRemovedRoutesPercent = 50

// applyDefaults fills what the author left out. It runs after validation,
// on a policy known to be valid.
func applyDefaults(p *Policy) {
	applyResilienceDefaults(p)
	applyLimitStageDefaults(p)
	applyReloadGuardDefaults(p)
	applyLimitCallsDefaults(p)
	applyRolloutDefaults(p)
	for _, l := range p.Listeners {
		if l.Address == "" {
			l.Address = DefaultListenerAddress
		}
		if len(l.Hosts) == 0 {
			l.Hosts = slices.Clone(defaultListenerHosts)
		}
	}
	for _, s := range p.Services {
		if s.LoadBalancing == "" {
			s.LoadBalancing = RoundRobin
		}
		if s.ConnectTimeout == 0 {
			s.ConnectTimeout = Duration(DefaultConnectTimeout)
		}
		for _, e := range s.Endpoints {
			if e.Weight == 0 {
				e.Weight = DefaultEndpointWeight
			}
		}
	}
	for _, r := range p.Routes {
		m := &r.Match
		if m.PathPrefix == "" && m.Path == "" && m.PathRegex == "" {
			m.PathPrefix = DefaultPathPrefix
		}
		if len(r.To) == 1 && r.To[0].Weight == 0 {
			r.To[0].Weight = defaultSoleDestinationWeight
		}
	}
	applyRouteActionDefaults(p)
	applyRateLimitDefaults(p)
	applyRateLimitHeadersDefaults(p)
	applyObservabilityDefaults(p)
	applyAuthDefaults(p)
	applyTrafficDefaults(p)
}
