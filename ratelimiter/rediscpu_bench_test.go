package ratelimiter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

// BenchmarkRedisCPU explains what bounds ShouldRateLimit on the Redis
// store when client, servers and redis-server share the machine's cores:
// it counts the CPU each call costs, not the wall clock, which other
// processes' load does not move. Per call, in the same interleaved rounds
// as BenchmarkRedisPipelining (one descriptor, the pipelined store):
//
//   - go-cpu-µs: this process (gRPC client, server, limiter, go-redis);
//   - noop-go-cpu-µs: the same with the no-op server;
//   - redis-cpu-µs: redis-server's own CPU (INFO cpu, user + system);
//   - cpu-bound-ratio: noop-go-cpu-µs / (go-cpu-µs + redis-cpu-µs), the
//     throughput ratio to expect when the cores are saturated, to set
//     beside the measured ratio-vs-noop.
//
// go test ./ratelimiter -run '^$' -bench RedisCPU -benchtime 1x
func BenchmarkRedisCPU(b *testing.B) {
	const rounds, calls = 11, 2000
	reqs := make([]*rlsv3.RateLimitRequest, calls)
	for i := range reqs {
		reqs[i] = &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: []*commonrlv3.RateLimitDescriptor{{Entries: []*commonrlv3.RateLimitDescriptor_Entry{
			{Key: "limit", Value: "per-client"}, {Key: "client_id", Value: fmt.Sprintf("client-%d", i%1000)},
		}}}}
	}
	srv := startRedis(b)
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: time.Second})
	b.Cleanup(func() { client.Close() })
	svc := newService(b, benchYAML, NewRedisStore(client, time.Second, nil, nil), true, nil)
	noop := benchServe(b, func(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, noopRLS{}) })
	red := benchServe(b, NewServer(svc).Register)
	for _, workers := range []int{16, 64} {
		b.Run(fmt.Sprintf("c%d", workers), func(b *testing.B) {
			driveN(b, red, reqs, workers) // warm up (and load the script)
			driveN(b, noop, reqs, workers)
			var ratios, goCPU, noopCPU, redisCPU []float64
			for range b.N * rounds {
				base := driveN(b, noop, reqs, workers)
				r0 := redisCPUTime(b, client)
				v := driveN(b, red, reqs, workers)
				redisPerCall := (redisCPUTime(b, client) - r0) / time.Duration(calls)
				ratios = append(ratios, v.rate/base.rate)
				goCPU, noopCPU = append(goCPU, µs(v.cpu)), append(noopCPU, µs(base.cpu))
				redisCPU = append(redisCPU, µs(redisPerCall))
			}
			g, n, r := median(goCPU), median(noopCPU), median(redisCPU)
			b.ReportMetric(median(ratios), "ratio-vs-noop")
			b.ReportMetric(g, "go-cpu-µs")
			b.ReportMetric(n, "noop-go-cpu-µs")
			b.ReportMetric(r, "redis-cpu-µs")
			b.ReportMetric(n/(g+r), "cpu-bound-ratio")
		})
	}
}

func µs(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// redisCPUTime is redis-server's CPU time so far (user + system, all its
// threads), from INFO cpu.
func redisCPUTime(b *testing.B, c redis.UniversalClient) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
