package xds

import (
	"slices"
	"testing"

	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/tollgate/tollgate/policy"
)

// observedPolicy is twoGroupPolicy with an access_log block (YAML, such
// as "{ grpc: true }"; none when empty).
func observedPolicy(t *testing.T, accessLog string) *policy.Policy {
	t.Helper()
	if accessLog == "" {
		return twoGroupPolicy(t)
	}
	return twoGroupPolicy(t, "---\naccess_log: "+accessLog+"\n")
}

// connectionManager decodes the HCM of a translated listener.
func connectionManager(t *testing.T, res *Resources) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

func TestGRPCAccessLogStreamsToTollgate(t *testing.T) {
	p := observedPolicy(t, "{ grpc: true }")
	res, err := Translate(p, "edge", Options{AccessLogAddress: "127.0.0.1:18000"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Clusters); !slices.Equal(got, []string{accessLogClusterName, noCollectorClusterName, "orders", AuthzCluster, RateLimitCluster}) {
		t.Errorf("clusters = %v", got)
	}
	logs := connectionManager(t, res).GetAccessLog()
	if len(logs) != 1 || logs[0].GetName() != "envoy.access_loggers.http_grpc" {
		t.Fatalf("access logs = %v", logs)
	}
	als := &grpcalsv3.HttpGrpcAccessLogConfig{}
	if err := logs[0].GetTypedConfig().UnmarshalTo(als); err != nil {
		t.Fatal(err)
	}
	if c := als.GetCommonConfig(); c.GetLogName() != AccessLogName || c.GetGrpcService().GetEnvoyGrpc().GetClusterName() != accessLogClusterName {
		t.Errorf("ALS config = %v", c)
	}
	// Only the gateway-set identity and the trace context: never a
	// credential the client sent.
	if got := als.GetAdditionalRequestHeadersToLog(); !slices.Equal(got, []string{ClientIDHeader, "traceparent"}) {
		t.Errorf("headers logged = %v", got)
	}
}

func TestAccessLogSinks(t *testing.T) {
	tests := []struct {
		name string
		log  string // the access_log block
		want string // logger name, "" for none
	}{
		{"file", "{ path: /tmp/access.log }", "envoy.access_loggers.file"},
		{"disabled", "{ disabled: true }", ""},
		{"default", "", "envoy.access_loggers.file"},
	}
	for _, tt := range tests {
		res, err := Translate(observedPolicy(t, tt.log), "edge", Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		logs := connectionManager(t, res).GetAccessLog()
		got := ""
		if len(logs) > 0 {
			got = logs[0].GetName()
		}
		if got != tt.want || len(logs) > 1 {
			t.Errorf("%s: access logs %v, want %q", tt.name, logs, tt.want)
		}
	}
}

func TestTracingAlwaysInjectsTraceContext(t *testing.T) {
	res, err := Translate(observedPolicy(t, ""), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := connectionManager(t, res).GetTracing()
	if tr.GetProvider().GetName() != "envoy.tracers.opentelemetry" || tr.GetRandomSampling().GetValue() != 100 {
		t.Errorf("tracing = %v", tr)
	}
	// Without a collector, spans go to a cluster with no endpoint.
	if got := names(res.Clusters); !slices.Contains(got, noCollectorClusterName) || slices.Contains(got, collectorClusterName) {
		t.Errorf("clusters = %v", got)
	}
	// The default group has no listener, so no tracer cluster either.
	if res, _ := Translate(observedPolicy(t, ""), DefaultGroup, Options{}); len(res.Clusters) != 0 {
		t.Errorf("default group clusters = %v, want none", names(res.Clusters))
	}
}
