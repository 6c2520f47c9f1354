package xds

import (
	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/policy"
)

// faultFilter is Envoy's fault injection filter: a route's `fault` delays
// or aborts a share of its requests. It sits last before the router, after
// authentication and every rate limit: an injected fault then looks to the
// client like the service failing, and a refused request (401, 429) is
// refused as it would be without the fault, counted once.
//
// Clients cannot reach it: it is off in the listener and on only for the
// routes whose policy writes a fault, with that fault's configuration. The
// configuration never sets header_delay, header_abort or downstream_nodes,
// so Envoy's x-envoy-fault-* request headers have no effect (and the
// identity header filter removes every x-envoy- header a client sends).
// A fault's `header` condition is a header the policy names, on the routes
// it names.
type faultFilter struct{}

const faultFilterName = "envoy.filters.http.fault"

func (faultFilter) name() string { return faultFilterName }

func (faultFilter) optIn() bool { return true }

// listenerConfig is an empty fault: with no delay and no abort the filter
// injects nothing, and it is disabled anyway.
func (faultFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &faultv3.HTTPFault{}, nil
}

// routeConfig replaces the listener's (empty) configuration on a route
// with a fault.
func (faultFilter) routeConfig(_ *policy.Policy, r *policy.Route) (proto.Message, error) {
	f := r.Fault
	if f == nil {
		return nil, nil
	}
	out := &faultv3.HTTPFault{}
	if d := f.Delay; d != nil {
		out.Delay = &commonfaultv3.FaultDelay{
			FaultDelaySecifier: &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.Duration.D())},
			Percentage:         fractionalPercent(d.Percent),
		}
	}
	if a := f.Abort; a != nil {
		out.Abort = &faultv3.FaultAbort{
			ErrorType:  &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(a.Status)}, //nolint:gosec // G115: validation keeps it within 200-599
			Percentage: fractionalPercent(a.Percent),
		}
	}
	if f.Header != nil {
		out.Headers = headerMatchers(f.Header)
	}
	return out, nil
}
