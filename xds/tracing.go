package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// Clusters of the tracer. Policy names cannot start with '_'.
const (
	// collectorClusterName reaches the policy's OpenTelemetry collector.
	collectorClusterName = "_tollgate_otel_collector"
	// noCollectorClusterName has no endpoints. Envoy's OpenTelemetry
	// tracer, the one that speaks W3C trace context, refuses to start
	// without an exporter; pointing it here keeps traceparent injection
	// without exporting anything.
	noCollectorClusterName = "_tollgate_no_collector"
)

// tracing makes Envoy a participant in W3C trace context: a request
// without a traceparent gets one with a new trace id, and one with a
// traceparent keeps its trace id (the parent id becomes the gateway's
// span, as the W3C spec asks of a participant). Spans go to the policy's
// collector, if any.
func tracing(t *policy.Tracing) (*hcmv3.HttpConnectionManager_Tracing, error) {
	cluster := noCollectorClusterName
	if t.Collector != "" {
		cluster = collectorClusterName
	}
	config, err := anypb.New(&tracev3.OpenTelemetryConfig{GrpcService: envoyGRPC(cluster), ServiceName: t.ServiceName})
	if err != nil {
		return nil, fmt.Errorf("encoding the tracer: %w", err)
	}
	return &hcmv3.HttpConnectionManager_Tracing{
		RandomSampling: &typev3.Percent{Value: *t.SamplePercent},
		Provider: &tracev3.Tracing_Http{
			Name:       "envoy.tracers.opentelemetry",
			ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: config},
		},
	}, nil
}

// envoyGRPC is a gRPC service reached through an Envoy cluster.
func envoyGRPC(cluster string) *corev3.GrpcService {
	return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
		EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster},
	}}
}
