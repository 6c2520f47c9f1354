package ratelimiter

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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

// benchRequests builds n distinct requests up front, so the callers spend
// their CPU (shared with the servers) on gRPC calls, not on building them.
// Both servers receive the same requests.
func benchRequests(n int) []*rlsv3.RateLimitRequest {
	reqs := make([]*rlsv3.RateLimitRequest, n)
	for i := range reqs {
		reqs[i] = benchRequest(i)
	}
	return reqs
}

// driven is what one drive measured.
type driven struct {
	rate     float64       // calls per second (wall clock)
	cpu      time.Duration // this process's CPU time per call: client and server
	p50, p99 time.Duration
}

// processCPU is the CPU time this process has used (user and system).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drive calls ShouldRateLimit with every request from 32 concurrent
// callers and measures it.
func drive(b *testing.B, c rlsv3.RateLimitServiceClient, reqs []*rlsv3.RateLimitRequest) driven {
	return driveN(b, c, reqs, 32)
}

// driveN is drive with the given number of concurrent callers.
func driveN(b *testing.B, c rlsv3.RateLimitServiceClient, reqs []*rlsv3.RateLimitRequest, workers int) driven {
	n := len(reqs)
	cpu0 := processCPU(b)
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
				if _, err := c.ShouldRateLimit(context.Background(), reqs[i]); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	slices.Sort(lat)
	return driven{rate: float64(n) / elapsed.Seconds(), cpu: cpu / time.Duration(n), p50: lat[n/2], p99: lat[n*99/100]}
}

// BenchmarkShouldRateLimit compares Tollgate's rate-limit service, with
// the memory store and with a real Redis, against a no-op server in the
// same process: throughput ratio, p50/p99, Redis round trips per decision.
//
// The machine is shared, so baseline and variant run in many short
// interleaved rounds, alternating which goes first (a burst of other load
// then hits both sides of a round alike, and neither always runs on a
// warmer or colder machine); the ratio reported is the median of the
// rounds' ratios, with the quartiles to show the spread. cpu-ratio is the
// same comparison by this process's CPU time per call (no-op / variant),
// which other processes' load disturbs less than the wall clock; with
// Redis it leaves out Redis's own CPU.
func BenchmarkShouldRateLimit(b *testing.B) {
	const (
		rounds = 41
		calls  = 1000 // per round and side
	)
	reqs := benchRequests(calls)
	noop := benchServe(b, func(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, noopRLS{}) })
	drive(b, noop, reqs) // warm up

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
			drive(b, tc.client, reqs) // warm up (and load the script)
			drive(b, noop, reqs)
			var rates, baseRates, ratios, cpuRatios, cpus, baseCPUs []float64
			var p50, p99, baseP50, baseP99 []float64
			before := trips.n.Load()
			for round := range rounds {
				var base, v driven
				if round%2 == 0 {
					base, v = drive(b, noop, reqs), drive(b, tc.client, reqs)
				} else {
					v, base = drive(b, tc.client, reqs), drive(b, noop, reqs)
				}
				rates, baseRates = append(rates, v.rate), append(baseRates, base.rate)
				ratios, cpuRatios = append(ratios, v.rate/base.rate), append(cpuRatios, float64(base.cpu)/float64(v.cpu))
				cpus, baseCPUs = append(cpus, float64(v.cpu.Nanoseconds())/1e3), append(baseCPUs, float64(base.cpu.Nanoseconds())/1e3)
				p50, p99 = append(p50, float64(v.p50.Microseconds())), append(p99, float64(v.p99.Microseconds()))
				baseP50, baseP99 = append(baseP50, float64(base.p50.Microseconds())), append(baseP99, float64(base.p99.Microseconds()))
			}
			b.ReportMetric(median(ratios), "ratio-vs-noop")
			b.ReportMetric(quantile(ratios, 0.25), "ratio-q1")
			b.ReportMetric(quantile(ratios, 0.75), "ratio-q3")
			b.ReportMetric(median(cpuRatios), "cpu-ratio")
			b.ReportMetric(median(cpus), "cpu-µs/decision")
			b.ReportMetric(median(baseCPUs), "noop-cpu-µs/decision")
			b.ReportMetric(median(rates), "decisions/s")
			b.ReportMetric(median(baseRates), "noop-decisions/s")
			b.ReportMetric(median(p50), "p50-µs")
			b.ReportMetric(median(p99), "p99-µs")
			b.ReportMetric(median(baseP50), "noop-p50-µs")
			b.ReportMetric(median(baseP99), "noop-p99-µs")
			if tc.name == "redis" {
				b.ReportMetric(float64(trips.n.Load()-before)/float64(rounds*calls), "redis-round-trips/decision")
			}
			for range b.N {
			}
		})
	}
}

func median(v []float64) float64 { return quantile(v, 0.5) }

// quantile is the q-quantile of v by the nearest-rank method (v is sorted
// in place).
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}
