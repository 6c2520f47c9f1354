package ratelimiter

import (
	"context"
	"errors"
)

// Charge asks a store to count Hits requests against Key under Rule.
type Charge struct {
	Key  string
	Rule Rule
	Hits int64
	// Shadow charges never refuse: they are decided, and counted when they
	// admit, but do not take part in the all-or-nothing decision.
	Shadow bool
}

// Store decides charges against shared counters.
type Store interface {
	// Apply decides every charge at one instant. If every non-shadow
	// charge admits, it applies them all (shadow ones only where they
	// admit); otherwise it changes nothing, so no limit is charged for a
	// request another limit refused. Results are in the order of charges.
	Apply(ctx context.Context, charges []Charge) ([]Result, error)
}

// ErrUnavailable wraps every store error caused by the backend (Redis)
// not answering, as opposed to a bad request.
var ErrUnavailable = errors.New("rate-limit store unavailable")

// admits reports whether every enforced result admits.
func admits(charges []Charge, results []Result) bool {
	for i, r := range results {
		if !r.Allowed && !charges[i].Shadow {
			return false
		}
	}
	return true
}
