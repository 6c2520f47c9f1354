package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// outlierDetection translates a service's outlier detection. Envoy turns
// some detectors on by default (consecutive 5xx at 5, success rate); each
// detector here is enforced only when the policy asks for it, so the
// configuration does what it reads as.
func outlierDetection(s *policy.Service) *clusterv3.OutlierDetection {
	o := s.OutlierDetection
	if o == nil {
		return nil
	}
	out := &clusterv3.OutlierDetection{
		Interval:           durationpb.New(o.Interval.D()),
		BaseEjectionTime:   durationpb.New(o.BaseEjectionTime.D()),
		MaxEjectionPercent: wrapperspb.UInt32(uint32(o.MaxEjectionPercent)),
		// Off unless asked for below.
		EnforcingConsecutive_5Xx:               wrapperspb.UInt32(0),
		EnforcingConsecutiveGatewayFailure:     wrapperspb.UInt32(0),
		EnforcingSuccessRate:                   wrapperspb.UInt32(0),
		EnforcingConsecutiveLocalOriginFailure: wrapperspb.UInt32(0),
		EnforcingLocalOriginSuccessRate:        wrapperspb.UInt32(0),
	}
	if o.Consecutive5xx > 0 {
		out.Consecutive_5Xx = wrapperspb.UInt32(uint32(o.Consecutive5xx))
		out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
	}
	if o.ConsecutiveGatewayFailure > 0 {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(uint32(o.ConsecutiveGatewayFailure))
		out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
	}
	if sr := o.SuccessRate; sr != nil {
		out.SuccessRateMinimumHosts = wrapperspb.UInt32(uint32(sr.MinimumHosts))
		out.SuccessRateRequestVolume = wrapperspb.UInt32(uint32(sr.RequestVolume))
		// Envoy takes the factor in thousandths.
		out.SuccessRateStdevFactor = wrapperspb.UInt32(uint32(sr.StdevFactor * 1000))
		out.EnforcingSuccessRate = wrapperspb.UInt32(100)
	}
	return out
}

// optionalDuration is nil for a zero duration: an optional setting the
// policy leaves out (a route's idle or per-try timeout), which Envoy then
// does without.
func optionalDuration(d policy.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d.D())
}
