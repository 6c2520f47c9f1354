package accesslog

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/internal/testenv"
)

func sockAddr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// sample is a routed, authenticated request as Envoy reports it.
func sample() *accesslogdatav3.HTTPAccessLogEntry {
	return &accesslogdatav3.HTTPAccessLogEntry{
		CommonProperties: &accesslogdatav3.AccessLogCommon{
			StartTime:               timestamppb.New(time.Date(2026, 5, 4, 3, 2, 1, 123e6, time.UTC)),
			DownstreamRemoteAddress: sockAddr("203.0.113.7", 51234),
			UpstreamRemoteAddress:   sockAddr("10.0.0.1", 8080),
			UpstreamCluster:         "orders",
			RouteName:               "list-orders",
			Duration:                durationpb.New(42 * time.Millisecond),
			ResponseFlags:           &accesslogdatav3.ResponseFlags{UpstreamRetryLimitExceeded: true, RateLimited: true},
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"envoy.filters.http.ratelimit": {Fields: map[string]*structpb.Value{"limit": structpb.NewStringValue("per-client")}},
			}},
		},
		Request: &accesslogdatav3.HTTPRequestProperties{
			RequestMethod:    corev3.RequestMethod_POST,
			Authority:        "api.example.com",
			Path:             "/orders/7?api_key=SECRET",
			RequestId:        "req-1",
			RequestBodyBytes: 12,
			RequestHeaders: map[string]string{
				"x-tollgate-client-id": "key-abc",
				"traceparent":          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			},
		},
		Response: &accesslogdatav3.HTTPResponseProperties{
			ResponseCode:        wrapperspb.UInt32(201),
			ResponseBodyBytes:   34,
			ResponseCodeDetails: "via_upstream",
		},
	}
}

func TestFromHTTP(t *testing.T) {
	got, err := json.Marshal(FromHTTP(sample()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2026-05-04T03:02:01.123Z","client_id":"key-abc","client_ip":"203.0.113.7","service":"orders",` +
		`"route":"list-orders","method":"POST","authority":"api.example.com","path":"/orders/7","status":201,"duration_ms":42,` +
		`"bytes_received":12,"bytes_sent":34,"request_id":"req-1","trace_id":"0af7651916cd43dd8448eb211c80319c",` +
		`"upstream_host":"10.0.0.1:8080","response_flags":"RL,URX","response_code_details":"via_upstream","rate_limit":"per-client"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFromHTTPAbsentValuesAreNull(t *testing.T) {
	e := FromHTTP(&accesslogdatav3.HTTPAccessLogEntry{
		CommonProperties: &accesslogdatav3.AccessLogCommon{ResponseFlags: &accesslogdatav3.ResponseFlags{NoRouteFound: true}},
		Request:          &accesslogdatav3.HTTPRequestProperties{RequestHeaders: map[string]string{"traceparent": "garbage"}},
	})
	if e.ClientID != nil || e.Service != nil || e.Route != nil || e.TraceID != nil || e.UpstreamHost != nil || e.Method != nil {
		t.Errorf("absent values must be nil: %+v", e)
	}
	if e.ResponseFlags != "NR" {
		t.Errorf("response flags = %q, want NR", e.ResponseFlags)
	}
	if got := responseFlags(&accesslogdatav3.ResponseFlags{}); got != "-" {
		t.Errorf("no flags = %q, want -", got)
	}
}

func TestTraceID(t *testing.T) {
	for in, want := range map[string]string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01": "0af7651916cd43dd8448eb211c80319c",
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01": "",
		"00-short-b7ad6b7169203331-01":                            "",
		"":                                                        "",
	} {
		if got := traceID(in); got != want {
			t.Errorf("traceID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServerWritesOneLinePerEntry(t *testing.T) {
	out := &testenv.Buffer{}
	reg := prometheus.NewRegistry()
	s := NewServer(out, nil, reg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := accesslogv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		err := stream.Send(&accesslogv3.StreamAccessLogsMessage{LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
			HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*accesslogdatav3.HTTPAccessLogEntry{sample(), sample()}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 6:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil || e["route"] != "list-orders" {
			t.Errorf("line %q: %v", l, err)
		}
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Error("the query string (which may carry credentials) was logged")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := -1.0
	for _, f := range families {
		if f.GetName() == "tollgate_accesslog_entries_total" {
			got = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 6 {
		t.Errorf("tollgate_accesslog_entries_total = %v, want 6", got)
	}
}
