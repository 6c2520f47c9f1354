package ratelimiter

import (
	"math"
	"testing"
	"time"
)

// Envoy's rate-limit fields are uint32: values beyond saturate rather than
// wrap, so a window longer than 136 years is not reported as a short one.
func TestCurrentLimitSaturatesUint32(t *testing.T) {
	long := 200 * 365 * 24 * time.Hour // 6.3e9 s
	got := currentLimit(&Limit{Name: "l", Rule: Rule{Algorithm: FixedWindow, Limit: 1 << 40, Period: long}})
	if got.GetRequestsPerUnit() != math.MaxUint32 || got.GetUnitMultiplier().GetValue() != math.MaxUint32 {
		t.Errorf("requests_per_unit %d, unit_multiplier %d; want both %d",
			got.GetRequestsPerUnit(), got.GetUnitMultiplier().GetValue(), uint32(math.MaxUint32))
	}
}
