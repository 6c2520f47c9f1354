// Package ratelimiter is Tollgate's rate-limit service. It answers Envoy's
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit through a
// thin gRPC adapter (server.go) over a Limiter compiled from each policy
// generation and swapped atomically (limiter.go).
//
// The algorithms (algorithm.go) decide over plain keys with an injected
// clock: a token bucket implemented as GCRA, an exact sliding window that
// remembers at most `limit` timestamps per key, and a fixed window with
// envoyproxy/ratelimit's semantics. A Store applies them: memoryStore
// (sharded, O(1) per decision, swept) or redisStore (one EVALSHA per
// decision, Redis's clock; decisions arriving together share one pipelined
// write, pipeline.go). A failover store (failover.go) applies the
// fail_open, fail_closed or grace mode when Redis does not answer in time.
//
// Several limits can apply to one request: it is admitted only if every
// enforced limit admits it, and no limit is charged for a request another
// limit refused.
package ratelimiter
