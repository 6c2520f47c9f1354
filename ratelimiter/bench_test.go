package ratelimiter

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// noopRLS is the baseline: a rate-limit server that admits everything
// without looking, over the same gRPC stack.
type noopRLS struct {
	rlsv3.UnimplementedRateLimitServiceServer
}

func (noopRLS) ShouldRateLimit(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	return &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}, nil
}

// roundTrips counts the commands go-redis sends, through a hook.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

const benchYAML = `
rate_limits:
  per-ip: { key: [client_ip], token_bucket: { rate: 1000000000/s } }
  per-route: { key: [route], sliding_window: { limit: 100000, window: 1ms } }
  per-client: { key: [client_id], fixed_window: { limit: 1000000000, window: 1h } }
`

// benchRequest is what Envoy sends for a route with three limits.
func benchRequest(i int) *rlsv3.RateLimitRequest {
	d := func(limit string) *commonrlv3.RateLimitDescriptor {
		return &commonrlv3.RateLimitDescriptor{Entries: []*commonrlv3.RateLimitDescriptor_Entry{
			{Key: "limit", Value: limit}, {Key: "route", Value: "orders"},
			{Key: "remote_address", Value: fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)},
			{Key: "client_id", Value: fmt.Sprintf("client-%d", i%1000)},
		}}
	}
	return &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: []*commonrlv3.RateLimitDescriptor{d("per-ip"), d("per-route"), d("per-client")}}
}

func benchServe(b *testing.B, register func(*grpc.Server)) rlsv3.RateLimitServiceClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(lis) }()
	b.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return rlsv3.NewRateLimitServiceClient(conn)
}

// run drives ShouldRateLimit from 32 concurrent callers for n calls and
// returns calls per second and the p50/p99 latency.
func drive(b *testing.B, c rlsv3.RateLimitServiceClient, n int) (float64, time.Duration, time.Duration) {
	const workers = 32
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if _, err := c.ShouldRateLimit(context.Background(), benchRequest(i)); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return float64(n) / elapsed.Seconds(), lat[n/2], lat[n*99/100]
}

// BenchmarkShouldRateLimit compares Tollgate's rate-limit service, with
// the memory store and with a real Redis, against a no-op server in the
// same process: throughput ratio, p50/p99, Redis round trips per decision.
func BenchmarkShouldRateLimit(b *testing.B) {
	const calls = 20000
	noop := benchServe(b, func(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, noopRLS{}) })
	drive(b, noop, 2000) // warm up

	memSvc := newService(b, benchYAML, NewMemoryStore(nil), false, nil)
	mem := benchServe(b, NewServer(memSvc).Register)

	srv := startRedis(b)
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: time.Second})
	b.Cleanup(func() { client.Close() })
	trips := &roundTrips{}
	client.AddHook(trips)
	redisSvc := newService(b, benchYAML, NewRedisStore(client, time.Second, nil, nil), true, nil)
	red := benchServe(b, NewServer(redisSvc).Register)

	for _, tc := range []struct {
		name   string
		client rlsv3.RateLimitServiceClient
	}{{"memory", mem}, {"redis", red}} {
		b.Run(tc.name, func(b *testing.B) {
			drive(b, tc.client, 2000) // warm up (and load the script)
			// The machine is shared: interleave rounds of the baseline and
			// the variant and report medians, so other load skews both alike.
			const rounds = 5
			var rates, baseRates, ratios []float64
			var p50, p99, baseP50, baseP99 time.Duration
			before := trips.n.Load()
			for range rounds {
				br, bp50, bp99 := drive(b, noop, calls/rounds)
				r, vp50, vp99 := drive(b, tc.client, calls/rounds)
				rates, baseRates, ratios = append(rates, r), append(baseRates, br), append(ratios, r/br)
				p50, p99, baseP50, baseP99 = max(p50, vp50), max(p99, vp99), max(baseP50, bp50), max(baseP99, bp99)
			}
			rate, baseRate := median(rates), median(baseRates)
			b.ReportMetric(median(ratios), "ratio-vs-noop")
			b.ReportMetric(rate, "decisions/s")
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(baseP50.Microseconds()), "noop-p50-µs")
			b.ReportMetric(float64(baseP99.Microseconds()), "noop-p99-µs")
			if tc.name == "redis" {
				b.ReportMetric(float64(trips.n.Load()-before)/calls, "redis-round-trips/decision")
			}
			b.ReportMetric(baseRate, "noop-decisions/s")
			for range b.N {
			}
		})
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
