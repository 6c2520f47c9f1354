package policy

import (
	"slices"
	"strings"
	"time"
)

// resilience checks the resilience fields of every service and route.
func (v *validator) resilience() {
	for _, name := range v.p.ServiceNames() {
		s := v.p.Services[name]
		path := mapPath("services", name)
		v.circuitBreaker(s.CircuitBreaker, path+".circuit_breaker", true)
		v.outlierDetection(s.OutlierDetection, path+".outlier_detection")
		v.healthCheck(s, path+".health_check")
		v.positiveDuration(s.Source, "timeout", s.Timeout, path)
		v.retryBudget(s.RetryBudget, path+".retry_budget")
		v.protocol(s, path)
	}
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name)
		v.routeTimeouts(r, path)
		v.retries(r.Retries, path+".retries")
	}
}

// positiveDuration reports a written duration field that is not above 0.
func (v *validator) positiveDuration(s Source, field string, d Duration, path string) {
	if s.Has(field) && d <= 0 {
		v.errorf(s.At(field), path+"."+field, "must be positive, got %v", d.D())
	}
}

// atLeast reports a written count below min, or above what Envoy's
// uint32 fields hold: every caller's count is one, and a larger value
// would wrap in translation (2^32 requests becoming a limit of 0).
func (v *validator) atLeast(s Source, field string, n, min int, path string) {
	switch {
	case !s.Has(field):
	case n < min:
		v.errorf(s.At(field), path+"."+field, "must be at least %d, got %d", min, n)
	case int64(n) > 1<<32-1: // math.MaxUint32; int64 so that 32-bit builds compile
		v.errorf(s.At(field), path+"."+field, "must be between %d and %d, got %d", min, int64(1<<32-1), n)
	}
}

func (v *validator) circuitBreaker(cb *CircuitBreaker, path string, top bool) {
	if cb == nil {
		return
	}
	// A limit of 0 connections or requests would refuse every request;
	// 0 pending or retries is a legitimate "never queue / never retry".
	v.atLeast(cb.Source, "max_connections", cb.MaxConnections, 1, path)
	v.atLeast(cb.Source, "max_requests", cb.MaxRequests, 1, path)
	v.atLeast(cb.Source, "max_pending", cb.MaxPending, 0, path)
	v.atLeast(cb.Source, "max_retries", cb.MaxRetries, 0, path)
	if cb.HighPriority == nil {
		return
	}
	if !top {
		v.errorf(cb.At("high_priority"), path+".high_priority", "high_priority cannot nest")
		return
	}
	v.circuitBreaker(cb.HighPriority, path+".high_priority", false)
}

func (v *validator) outlierDetection(o *OutlierDetection, path string) {
	if o == nil {
		return
	}
	v.atLeast(o.Source, "consecutive_5xx", o.Consecutive5xx, 1, path)
	v.atLeast(o.Source, "consecutive_gateway_failure", o.ConsecutiveGatewayFailure, 1, path)
	v.positiveDuration(o.Source, "interval", o.Interval, path)
	v.positiveDuration(o.Source, "base_ejection_time", o.BaseEjectionTime, path)
	if o.Has("max_ejection_percent") && (o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100) {
		v.errorf(o.At("max_ejection_percent"), path+".max_ejection_percent", "must be between 0 and 100, got %d", o.MaxEjectionPercent)
	}
	if sr := o.SuccessRate; sr != nil {
		spath := path + ".success_rate"
		v.atLeast(sr.Source, "minimum_hosts", sr.MinimumHosts, 1, spath)
		v.atLeast(sr.Source, "request_volume", sr.RequestVolume, 1, spath)
		if sr.Has("stdev_factor") && sr.StdevFactor <= 0 {
			v.errorf(sr.At("stdev_factor"), spath+".stdev_factor", "must be positive, got %v", sr.StdevFactor)
		}
	}
}

func (v *validator) healthCheck(s *Service, path string) {
	hc := s.HealthCheck
	if hc == nil {
		return
	}
	switch {
	case s.Protocol == GRPC && hc.Has("path"):
		v.errorf(hc.At("path"), path+".path", "a gRPC service is checked with the gRPC health protocol; remove path")
	case s.Protocol != GRPC && !hc.Has("path"):
		v.errorf(hc.Pos(), path+".path", "an HTTP health check needs a path, such as /healthz")
	case hc.Has("path") && !strings.HasPrefix(hc.Path, "/"):
		v.errorf(hc.At("path"), path+".path", "must start with /, got %q", hc.Path)
	}
	v.positiveDuration(hc.Source, "interval", hc.Interval, path)
	v.positiveDuration(hc.Source, "timeout", hc.Timeout, path)
	v.atLeast(hc.Source, "healthy_threshold", hc.HealthyThreshold, 1, path)
	v.atLeast(hc.Source, "unhealthy_threshold", hc.UnhealthyThreshold, 1, path)
}

func (v *validator) retryBudget(b *RetryBudget, path string) {
	if b == nil {
		return
	}
	if b.Has("percent") && (b.Percent <= 0 || b.Percent > 100) {
		v.errorf(b.At("percent"), path+".percent", "must be above 0 and at most 100, got %v", b.Percent)
	}
	v.atLeast(b.Source, "min_concurrency", b.MinConcurrency, 0, path)
}

var protocols = []Protocol{HTTP1, HTTP2, H2C, GRPC}

func (v *validator) protocol(s *Service, path string) {
	if s.Protocol != "" && !slices.Contains(protocols, s.Protocol) {
		v.errorf(s.At("protocol"), path+".protocol", "unknown protocol %q; expected one of: http1, http2, h2c, grpc", s.Protocol)
	}
	if s.Protocol == H2C && s.TLS != nil {
		v.errorf(s.At("protocol"), path+".protocol", "h2c is cleartext HTTP/2; with tls use http2 (or grpc)")
	}
}

func (v *validator) routeTimeouts(r *Route, path string) {
	v.positiveDuration(r.Source, "timeout", r.Timeout, path)
	v.positiveDuration(r.Source, "per_try_timeout", r.PerTryTimeout, path)
	v.positiveDuration(r.Source, "idle_timeout", r.IdleTimeout, path)
	if !r.Has("per_try_timeout") || r.PerTryTimeout <= 0 {
		return
	}
	if r.Retries == nil {
		v.errorf(r.At("per_try_timeout"), path+".per_try_timeout", "per_try_timeout bounds each try of a retrying route; add retries or use timeout")
	}
	if timeout := v.p.RouteTimeout(r); timeout > 0 && r.PerTryTimeout.D() > timeout {
		v.errorf(r.At("per_try_timeout"), path+".per_try_timeout", "per_try_timeout %v is larger than the route's timeout %v, so no retry could ever run", r.PerTryTimeout.D(), timeout)
	}
}

func (v *validator) retries(rt *Retries, path string) {
	if rt == nil {
		return
	}
	if rt.Attempts < 1 || rt.Attempts > 10 {
		v.errorf(rt.At("attempts"), path+".attempts", "attempts (retries after the first try) must be between 1 and 10, got %d", rt.Attempts)
	}
	for _, on := range rt.On {
		if !slices.Contains(RetryConditions, on) {
			v.errorf(rt.At("on"), path+".on", "unknown retry condition %q; expected some of: %s", on, strings.Join(RetryConditions, ", "))
		}
	}
	for _, code := range rt.RetriableStatusCodes {
		if code < 100 || code > 599 {
			v.errorf(rt.At("retriable_status_codes"), path+".retriable_status_codes", "%d is not an HTTP status", code)
		}
	}
	if b := rt.Backoff; b != nil {
		bpath := path + ".backoff"
		v.positiveDuration(b.Source, "base", b.Base, bpath)
		v.positiveDuration(b.Source, "max", b.Max, bpath)
		if b.Has("max") && b.Max < b.Base {
			v.errorf(b.At("max"), bpath+".max", "max %v is below base %v", b.Max.D(), b.Base.D())
		}
	}
}

// RouteTimeout is the request timeout a route gets: its own, else the
// largest of its services' timeouts, else DefaultRouteTimeout. It is valid
// on a loaded policy and, before defaults, on one being validated.
func (p *Policy) RouteTimeout(r *Route) time.Duration {
	if r.Timeout > 0 {
		return r.Timeout.D()
	}
	var longest time.Duration
	for _, d := range r.To {
		if s := p.Services[d.Service]; s != nil && s.Timeout.D() > longest {
			longest = s.Timeout.D()
		}
	}
	if longest > 0 {
		return longest
	}
	return DefaultRouteTimeout
}
