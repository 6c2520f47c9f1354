package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Default is one row of the table of defaults: a field a policy may leave
// out and what it then gets.
type Default struct {
	// Field is the field's path, as in error messages: "[]" for any list
	// element, "*" for any name of a mapping ("services.*.timeout").
	Field string
	// Value is what the field gets, as docs/policy.md writes it: a YAML
	// value in backquotes, with words around it where the value depends on
	// something else.
	Value string
	// Applied is true when Load writes the value into the policy, so that
	// consumers read it resolved. A row that is not applied says what the
	// field's absence means (a field left empty, or resolved by a Policy
	// method such as RouteTimeout).
	Applied bool
}

// Defaults is every default, in the order of docs/policy.md's Defaults
// table, which a test keeps equal to it row for row. Values are written
// from the constants Load applies, and a test checks that every value Load
// writes into a policy has its row, with that value: a default cannot be
// added or changed without its row.
var Defaults = []Default{
	{"listeners[].address", code(DefaultListenerAddress), true},
	{"listeners[].hosts", code(defaultListenerHosts), true},
	{"listeners[].groups", "every node group", false},
	{"listeners[].keep_client_headers", "none: every client header of [What services may trust](#what-services-may-trust) is removed", false},
	{"listeners[].client_address", "the connection's peer: no header a client sends changes it", false},
	{"listeners[].client_ips", "every address", false},
	{"listeners[].request_limits.max_headers", "`" + FormatByteSize(EnvoyMaxHeaders) + "` (Envoy's own)", false},
	{"listeners[].request_limits.max_body", "none: bodies stream to the service", false},
	{"listeners[].tls.min_version", code(DefaultTLSMinVersion), true},
	{"listeners[].tls.require_client_cert", code(true) + " when `client_ca` is set", false},
	{"listeners[].compression.algorithms", "none: only routes with `compression` compress", false},
	{"listeners[].compression.min_size", code(DefaultCompressionMinSize), true},
	{"listeners[].compression.content_types", code(DefaultCompressionContentTypes), true},

	{"services.*.load_balancing", code(RoundRobin), true},
	{"services.*.connect_timeout", code(Duration(DefaultConnectTimeout)), true},
	{"services.*.endpoints[].weight", code(DefaultEndpointWeight), true},
	{"services.*.protocol", code(HTTP1), true},
	{"services.*.timeout", "none (see `routes[].timeout`)", false},
	{"services.*.tls.san", "the `sni`, when set", true},
	{"services.*.circuit_breaker.max_connections", code(DefaultMaxConnections) + " (Envoy's own; in `high_priority` too)", true},
	{"services.*.circuit_breaker.max_pending", code(DefaultMaxPending) + " (Envoy's own; in `high_priority` too)", true},
	{"services.*.circuit_breaker.max_requests", code(DefaultMaxRequests) + " (Envoy's own; in `high_priority` too)", true},
	{"services.*.circuit_breaker.max_retries", code(DefaultMaxRetries) + " (Envoy's own; in `high_priority` too)", true},
	{"services.*.outlier_detection.consecutive_5xx", code(DefaultConsecutive5xx) + " when no detector is written", true},
	{"services.*.outlier_detection.interval", code(Duration(DefaultOutlierInterval)), true},
	{"services.*.outlier_detection.base_ejection_time", code(Duration(DefaultBaseEjectionTime)), true},
	{"services.*.outlier_detection.max_ejection_percent", code(DefaultMaxEjectionPercent), true},
	{"services.*.outlier_detection.success_rate.minimum_hosts", code(DefaultSuccessRateMinHosts), true},
	{"services.*.outlier_detection.success_rate.request_volume", code(DefaultSuccessRateVolume), true},
	{"services.*.outlier_detection.success_rate.stdev_factor", code(DefaultSuccessRateStdev), true},
	{"services.*.health_check.interval", code(Duration(DefaultHealthCheckInterval)), true},
	{"services.*.health_check.timeout", code(Duration(DefaultHealthCheckTimeout)), true},
	{"services.*.health_check.healthy_threshold", code(DefaultHealthyThreshold), true},
	{"services.*.health_check.unhealthy_threshold", code(DefaultUnhealthyThreshold), true},
	{"services.*.retry_budget.percent", code(DefaultRetryBudgetPercent), true},
	{"services.*.retry_budget.min_concurrency", code(DefaultRetryMinConcurrency), true},

	{"routes[].listeners", "every listener", false},
	{"routes[].match.path_prefix", code(DefaultPathPrefix) + " when no path form is written", true},
	{"routes[].to[].weight", code(defaultSoleDestinationWeight) + " when the route names one service", true},
	{"routes[].timeout", "the largest `timeout` of its services, else " + code(Duration(DefaultRouteTimeout)), false},
	{"routes[].retries.on", code(DefaultRetryOn), true},
	{"routes[].retries.backoff.base", code(Duration(DefaultRetryBackoffBase)), true},
	{"routes[].retries.backoff.max", fmt.Sprintf("%dx `base`", defaultRetryBackoffMaxRatio), true},
	{"routes[].auth.accept", "with an `auth` section: every configured credential kind; without: public", true},
	{"routes[].auth.allow_query", "`auth.api_keys.allow_query`", false},
	{"routes[].auth.forward_token", code(false) + ": `Authorization` never reaches the service", false},
	{"routes[].mirror.percent", code(DefaultMirrorPercent), true},
	{"routes[].fault.delay.percent", code(DefaultFaultPercent), true},
	{"routes[].fault.abort.percent", code(DefaultFaultPercent), true},
	{"routes[].compression", "the listener's: compressed when `listeners[].compression.algorithms` lists any", false},
	{"routes[].compression.algorithms", code(DefaultRouteCompression) + " unless `disabled: true`", true},
	{"routes[].upgrades", "none: an upgrade request (WebSocket) gets 403", false},
	{"routes[].redirect.status", code(DefaultRedirectStatus), true},
	{"routes[].respond.content_type", code(DefaultDirectResponseContentType) + " when there is a `body`", true},
	{"routes[].client_ips", "every address its listener's `client_ips` let through", false},
	{"routes[].request_limits.max_body", "the listener's `max_body`, else none", false},
	{"routes[].request_limits.methods", "every method", false},
	{"routes[].request_limits.content_types", "every content type", false},

	{"auth.failure_mode", code(FailDeny), true},
	{"auth.timeout", code(Duration(DefaultAuthzTimeout)), true},
	{"auth.api_keys.header", code(DefaultAPIKeyHeader), true},
	{"auth.api_keys.allow_query", code(false), false},
	{"auth.api_keys.optional", code(false) + " (a missing keys file is an error)", false},
	{"auth.jwt[].algorithms", code(DefaultAlgorithms), true},
	{"auth.jwt[].leeway", code(Duration(DefaultJWTLeeway)), true},
	{"auth.jwt[].refresh_interval", code(Duration(DefaultJWKSRefresh)), true},
	{"auth.jwt[].max_stale", code(Duration(DefaultJWKSMaxStale)), true},
	{"auth.jwt[].outage", code(OutageDeny), true},
	{"auth.jwt[].scopes_claim", code(DefaultScopesClaim), true},
	{"auth.jwt[].roles_claim", code(DefaultRolesClaim), true},
	{"auth.jwt[].audiences", "empty: any audience", false},

	{"rate_limits.*.when", "every request", false},
	{"rate_limits.*.key", "one counter for every request the limit applies to", false},
	{"rate_limits.*.token_bucket.burst", "the rate's count", true},
	{"rate_limits.*.stage", code(StageAfterAuth), true},
	{"rate_limits.*.shadow", code(false), false},
	{"rate_limits.*.headers", code(false), false},
	{"rate_limit_headers", code(HeadersDraft), true},
	{"rate_limit_store", "memory (counters in each instance)", false},
	{"rate_limit_store.on_failure", code(FailOpen), true},
	{"rate_limit_store.redis.timeout", code(Duration(DefaultRedisTimeout)) + "; Envoy waits it plus " + code(Duration(RateLimitCallMargin)) + " for a decision", true},
	{"rate_limit_store.redis.db", code(0), false},
	{"rate_limit_store.grace.period", code(Duration(DefaultGracePeriod)) + " with `on_failure: grace`", true},
	{"rate_limit_store.grace.then", code(FailOpen) + " with `on_failure: grace`", true},

	{"access_log.path", code(DefaultAccessLogPath) + " unless `grpc` or `disabled`", true},
	{"tracing.collector", "none: spans are not exported", false},
	{"tracing.service_name", code(DefaultTracingServiceName), true},
	{"tracing.sample_percent", code(DefaultSamplePercent), true},

	{"limit_calls.one_call", code(true) + ": a route with an auth rule and limits costs one ext_authz call", true},

	{"reload_guard.allow_no_listeners", code(false) + ": a policy without listeners is refused", false},
	{"reload_guard.max_removed_routes_percent", code(DefaultMaxRemovedRoutesPercent) + fmt.Sprintf(" (checked when at least %d routes serve)", GuardedRouteCount), true},

	{"rollout", "none: every Envoy gets a generation at once", false},
	{"rollout.hold", code(Duration(DefaultRolloutHold)), true},
	{"rollout.max_5xx_ratio", code(DefaultRolloutMax5xxRatio), true},
	{"rollout.stages[].hold", "the rollout's `hold`", true},
}

// code is a value as docs/policy.md writes it: YAML, in backquotes.
func code(v any) string { return "`" + yamlValue(reflect.ValueOf(v)) + "`" }

// yamlValue writes a policy value as a policy file would: durations as
// "5m", lists in flow style, strings quoted only where YAML would read
// them as something else.
func yamlValue(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		return yamlValue(v.Elem())
	}
	if d, ok := v.Interface().(Duration); ok {
		return shortDuration(d.D())
	}
	switch v.Kind() {
	case reflect.String:
		return yamlString(v.String())
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = yamlValue(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// shortDuration is time.Duration's String without its zero units ("5m",
// not "5m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// yamlString quotes a string YAML would read as a number or that starts
// with a character YAML gives a meaning ("*", "&", "!", …).
func yamlString(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil || s == "" || strings.ContainsAny(s[:1], `*&!|>'"%@#{}[],?:-`) {
		return strconv.Quote(s)
	}
	return s
}
