package authz

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate/tollgate/internal/authtest"
)

// noopServer is the baseline: an Authorization server that allows every
// request without looking at it. The ratio of Tollgate's throughput to
// its throughput, measured in the same process and run, is what the
// targets are about (API key ≥ 0.7, cached JWT ≥ 0.6).
type noopServer struct{}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{}}, nil
}

// serveGRPC serves an Authorization server on loopback and returns a
// client connected to it.
func serveGRPC(b *testing.B, s authv3.AuthorizationServer) authv3.AuthorizationClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, s)
	go func() { _ = g.Serve(lis) }()
	b.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// checkRequest is a CheckRequest as Envoy sends it for route "read".
func checkRequest(headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": "api.example.com", ":method": "GET", ":path": "/orders/42", "x-request-id": "5f0c8b3e-7a1d-4c2e-9d7e-1a2b3c4d5e6f"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Host: "api.example.com", Path: "/orders/42", Headers: h}},
		ContextExtensions: map[string]string{RouteContextKey: "read"},
	}}
}

// result is one measurement: throughput and latency percentiles.
type result struct {
	throughput float64 // checks per second
	p50, p99   time.Duration
}

// measure calls Check n times from 16 goroutines (the machine has 2
// cores; gRPC needs concurrency to fill them, as Envoy's many connections
// do) and returns the throughput and latency percentiles.
func measure(b *testing.B, c authv3.AuthorizationClient, req *authv3.CheckRequest, n int) result {
	const workers = 16
	var mu sync.Mutex
	var all []time.Duration
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var lat []time.Duration
			for range jobs {
				t0 := time.Now()
				resp, err := c.Check(context.Background(), req)
				lat = append(lat, time.Since(t0))
				if err != nil || resp.GetStatus().GetCode() != 0 {
					b.Errorf("Check: %v %v", err, resp.GetStatus())
					return
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	r := result{throughput: float64(n) / elapsed.Seconds()}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// rounds is how many times a case and the no-op server alternate.
const rounds = 5

// interleaved measures the case and the no-op server in alternating
// rounds of n/rounds calls each, and returns the case's last round, the
// no-op server's last round, and the median of the per-round throughput
// ratios: the machine is shared, and load that comes and goes hits both
// sides of a round alike.
func interleaved(b *testing.B, c authv3.AuthorizationClient, req *authv3.CheckRequest, noop authv3.AuthorizationClient, noopReq *authv3.CheckRequest, n int) (got, base result, ratio float64) {
	per := max(n/rounds, 1)
	ratios := make([]float64, 0, rounds)
	for range rounds {
		base = measure(b, noop, noopReq, per)
		got = measure(b, c, req, per)
		ratios = append(ratios, got.throughput/base.throughput)
	}
	slices.Sort(ratios)
	return got, base, ratios[len(ratios)/2]
}

// BenchmarkCheck compares Tollgate's Check over real gRPC on loopback with
// a no-op Authorization server in the same process:
// `go test ./authz/ -run '^$' -bench Check -benchtime 50000x`. Every case
// alternates with the no-op server (see interleaved); "ratio" is the
// median ratio of their throughputs.
func BenchmarkCheck(b *testing.B) {
	f := newFixture(b, "")
	tollgate := serveGRPC(b, NewServer(f.e))
	noop := serveGRPC(b, noopServer{})
	f.e.now = time.Now
	claims := authtest.Standard(testIssuer, "orders-api", "alice", "orders:read")
	cases := []struct {
		name    string
		headers map[string]string
		cached  bool
	}{
		{"api_key", map[string]string{"x-api-key": f.keys["partner"]}, true},
		{"jwt_es256_cached", bearer(f.ec.Sign(claims)), true},
		{"jwt_rs256_cached", bearer(f.rsa.Sign(claims)), true},
		{"jwt_es256_uncached", bearer(f.ec.Sign(claims)), false},
		{"jwt_rs256_uncached", bearer(f.rsa.Sign(claims)), false},
	}
	noopReq := checkRequest(nil)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			size := defaultTokenCacheSize
			if !tc.cached {
				size = 0
			}
			f.e.rules.Load().providers[testIssuer].cache = newTokenCache(size)
			req := checkRequest(tc.headers)
			measure(b, tollgate, req, 200) // warm up connections and caches
			b.ResetTimer()
			got, base, ratio := interleaved(b, tollgate, req, noop, noopReq, b.N)
			b.StopTimer()
			b.ReportMetric(got.throughput, "checks/s")
			b.ReportMetric(float64(got.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(got.p99.Microseconds()), "p99-µs")
			b.ReportMetric(base.throughput, "noop-checks/s")
			b.ReportMetric(float64(base.p50.Microseconds()), "noop-p50-µs")
			b.ReportMetric(float64(base.p99.Microseconds()), "noop-p99-µs")
			b.ReportMetric(ratio, "ratio")
		})
	}
}
