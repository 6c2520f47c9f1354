package ratelimiter

import (
	"fmt"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"

	"github.com/tollgate/tollgate/policy"
)

// Caps on one rate-limit call. Deciding costs time in proportion to the
// descriptors and entries of a call, and anyone who reaches the gRPC port
// can send one: 10,000 descriptors cost 0.4 s of CPU before these caps.
// Envoy, configured by Tollgate, sends one descriptor per limit a route
// names (at most policy.MaxRouteRateLimits) of at most 7 fixed entries
// plus one per key part (at most policy.MaxKeyParts): the caps leave
// several times that room, so only a call no policy produces is refused.
const (
	MaxDescriptors       = 256
	MaxDescriptorEntries = 64
)

// The translation's worst case must fit the caps with room to spare; a
// constant that would go negative stops the build.
const (
	_ = uint(MaxDescriptors - 4*policy.MaxRouteRateLimits)
	_ = uint(MaxDescriptorEntries - 2*(7+policy.MaxKeyParts))
)

// The reasons of tollgate_ratelimit_invalid_calls_total.
const (
	reasonTooManyDescriptors = "too_many_descriptors"
	reasonTooManyEntries     = "too_many_entries"
)

var callSizeReasons = []string{reasonTooManyDescriptors, reasonTooManyEntries}

// checkCallSize returns why a call exceeds the caps (a metric reason and
// a message for the caller), or "" when it does not. It only counts, so a
// hostile call costs no more than reading it.
func checkCallSize(descs []*commonrlv3.RateLimitDescriptor) (reason, msg string) {
	if len(descs) > MaxDescriptors {
		return reasonTooManyDescriptors, fmt.Sprintf("%d descriptors in one call; at most %d are accepted", len(descs), MaxDescriptors)
	}
	for i, d := range descs {
		if n := len(d.GetEntries()); n > MaxDescriptorEntries {
			return reasonTooManyEntries, fmt.Sprintf("descriptor %d has %d entries; at most %d are accepted", i, n, MaxDescriptorEntries)
		}
	}
	return "", ""
}
