package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/tollgate/tollgate/internal/demoservice"
)

// grpcUpstream serves gRPC's standard health service in cleartext HTTP/2
// on a loopback port: a real gRPC service the gateway can route to, and
// that Envoy's gRPC health checker understands.
func grpcUpstream(t *testing.T) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), hs
}

// h2cUpstream serves the demo service in cleartext HTTP/2 only (prior
// knowledge), echoing the protocol it was reached with.
func h2cUpstream(t *testing.T, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: peerRecorder(demoservice.New(name, lis.Addr().String()), false), ReadHeaderTimeout: 5 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}

func TestGRPCAndH2CServicesThroughTheGateway(t *testing.T) {
	t.Parallel()
	addr, hs := grpcUpstream(t)
	web := upstream(t, "web", 1, nil)[0]
	h2c := h2cUpstream(t, "streams")
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  orders-grpc:
    endpoints: [%s]
    protocol: grpc
    health_check: { interval: 200ms, timeout: 150ms, healthy_threshold: 1, unhealthy_threshold: 1 }
  web: { endpoints: [%s] }
  streams: { endpoints: [%s], protocol: h2c }
routes:
  - { name: grpc, match: { path_prefix: /grpc.health.v1.Health/ }, to: orders-grpc, timeout: 5s }
  - { name: streams, match: { path_prefix: /streams }, to: streams }
  - { name: web, to: web }
`, addr, web, h2c),
	}, false, "/", "web")
	e := g.envoy
	// Envoy's gRPC health check reaches the service over HTTP/2.
	waitStat(t, e, "cluster.orders-grpc.membership_healthy", func(v int64) bool { return v == 1 })

	conn, err := grpc.NewClient(g.base[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var header metadata.MD
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders.v1.Orders"}, grpc.Header(&header))
	if err != nil {
		t.Fatalf("gRPC call through the gateway: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status %v, want SERVING", resp.GetStatus())
	}
	if len(header.Get("x-envoy-upstream-service-time")) == 0 {
		t.Errorf("the answer did not come through Envoy: headers %v", header)
	}
	// A gRPC error status passes through as such.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown.Service"})
	if err == nil {
		t.Error("checking an unknown service succeeded")
	}
	// An HTTP service that speaks only cleartext HTTP/2 is reached as such.
	if status, r := call("GET", g.base+"/streams", nil); status != 200 || r.Headers["x-peer-proto"] != "HTTP/2.0" {
		t.Errorf("h2c service: status %d, protocol %q", status, r.Headers["x-peer-proto"])
	}

	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	// Envoy's gRPC health check follows the overall status.
	waitStat(t, e, "cluster.orders-grpc.membership_healthy", func(v int64) bool { return v == 0 })
}

// TestGRPCClientsOverALimitGetResourceExhausted: a gRPC call refused by a
// rate limit ends with RESOURCE_EXHAUSTED, gRPC's code for a spent quota.
// Envoy's default, UNAVAILABLE, tells gRPC clients to retry at once, which
// their retry policies do, adding load to the limit that refused them.
func TestGRPCClientsOverALimitGetResourceExhausted(t *testing.T) {
	t.Parallel()
	addr, _ := grpcUpstream(t)
	web := upstream(t, "web", 1, nil)[0]
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  orders-grpc: { endpoints: [%s], protocol: grpc }
  web: { endpoints: [%s] }
routes:
  - { name: grpc, match: { path_prefix: /grpc.health.v1.Health/ }, to: orders-grpc, rate_limits: [one] }
  - { name: web, to: web }
rate_limits:
  one: { key: [route], fixed_window: { limit: 1, window: 1h } }
`, addr, web),
	}, false, "/", "web")
	wantSecondGRPCCallExhausted(t, g.base)
}

// wantSecondGRPCCallExhausted makes two gRPC health checks through the
// gateway at base, on a route limited to one call: the first must pass,
// the second end with RESOURCE_EXHAUSTED.
func wantSecondGRPCCallExhausted(t *testing.T, base string) {
	t.Helper()
	conn, err := grpc.NewClient(base[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders.v1.Orders"}); err != nil {
		t.Fatalf("first call, within the limit: %v", err)
	}
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders.v1.Orders"})
	if got := grpcstatus.Code(err); got != codes.ResourceExhausted {
		t.Errorf("second call, over the limit: %v (code %v), want ResourceExhausted", err, got)
	}
}
