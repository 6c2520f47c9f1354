package ratelimiter

import (
	"fmt"
	"testing"
	"time"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
)

// BenchmarkRedisPipelining compares ShouldRateLimit on a single Redis
// node, pipelined (the store as shipped) and one EVALSHA per decision
// (the store before pipelining), each against the no-op server, with 16
// and 64 concurrent callers and one descriptor per call. Rounds are
// interleaved as in BenchmarkShouldRateLimit; ratios are medians of the
// rounds' ratios.
func BenchmarkRedisPipelining(b *testing.B) {
	const rounds, calls = 21, 2000
	reqs := make([]*rlsv3.RateLimitRequest, calls)
	for i := range reqs {
		reqs[i] = &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: []*commonrlv3.RateLimitDescriptor{{Entries: []*commonrlv3.RateLimitDescriptor_Entry{
			{Key: "limit", Value: "per-client"}, {Key: "client_id", Value: fmt.Sprintf("client-%d", i%1000)},
		}}}}
	}
	noop := benchServe(b, func(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, noopRLS{}) })
	srv := startRedis(b)
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: time.Second})
	b.Cleanup(func() { client.Close() })
	trips := &roundTrips{}
	client.AddHook(trips)
	piped := NewRedisStore(client, time.Second, nil, nil)
	plain := &redisStore{client: client, timeout: time.Second, metrics: NewMetrics(nil)}
	variants := map[string]rlsv3.RateLimitServiceClient{
		"pipelined":   benchServe(b, NewServer(newService(b, benchYAML, piped, true, nil)).Register),
		"unpipelined": benchServe(b, NewServer(newService(b, benchYAML, plain, true, nil)).Register),
	}
	for _, workers := range []int{16, 64} {
		for _, name := range []string{"unpipelined", "pipelined"} {
			b.Run(fmt.Sprintf("c%d/%s", workers, name), func(b *testing.B) {
				c := variants[name]
				driveN(b, c, reqs, workers) // warm up (and load the script)
				driveN(b, noop, reqs, workers)
				var ratios []float64
				before := trips.n.Load()
				for round := range rounds {
					var base, v driven
					if round%2 == 0 {
						base, v = driveN(b, noop, reqs, workers), driveN(b, c, reqs, workers)
					} else {
						v, base = driveN(b, c, reqs, workers), driveN(b, noop, reqs, workers)
					}
					ratios = append(ratios, v.rate/base.rate)
				}
				b.ReportMetric(median(ratios), "ratio-vs-noop")
				b.ReportMetric(quantile(ratios, 0.25), "ratio-q1")
				b.ReportMetric(quantile(ratios, 0.75), "ratio-q3")
				b.ReportMetric(float64(trips.n.Load()-before)/float64(rounds*calls), "redis-round-trips/decision")
				for range b.N {
				}
			})
		}
	}
}
