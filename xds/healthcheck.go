package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// healthChecks translates a service's active health check: an HTTP GET of
// the path (200 is healthy), or the gRPC health protocol for gRPC
// services. Envoy probes idle clusters only every no_traffic_interval
// (60s by default); it is set to the interval so that an endpoint that
// died while the service was quiet is out of rotation before the next
// request, not a minute later.
func healthChecks(s *policy.Service) []*corev3.HealthCheck {
	hc := s.HealthCheck
	if hc == nil {
		return nil
	}
	interval := durationpb.New(hc.Interval.D())
	check := &corev3.HealthCheck{
		Timeout:            durationpb.New(hc.Timeout.D()),
		Interval:           interval,
		NoTrafficInterval:  interval,
		HealthyThreshold:   wrapperspb.UInt32(uint32(hc.HealthyThreshold)),
		UnhealthyThreshold: wrapperspb.UInt32(uint32(hc.UnhealthyThreshold)),
	}
	if s.Protocol == policy.GRPC {
		check.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{}}
		return []*corev3.HealthCheck{check}
	}
	codec := typev3.CodecClientType_HTTP1
	if s.Protocol.UsesHTTP2() {
		codec = typev3.CodecClientType_HTTP2
	}
	check.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
		Path:            hc.Path,
		CodecClientType: codec,
	}}
	return []*corev3.HealthCheck{check}
}

// healthCheckLbConfig applies health changes to load balancing at once.
// Envoy otherwise merges host health updates for a second
// (update_merge_window), which protects big, noisy clusters from CPU churn
// but keeps sending requests to an endpoint its health check has just
// found dead. A service with health checks asked for the opposite.
func healthCheckLbConfig(s *policy.Service) *clusterv3.Cluster_CommonLbConfig {
	if s.HealthCheck == nil {
		return nil
	}
	return &clusterv3.Cluster_CommonLbConfig{UpdateMergeWindow: durationpb.New(0)}
}
