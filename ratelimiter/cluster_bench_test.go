package ratelimiter

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

// rttDelay is the simulated network round trip: same zone, a few hops.
const rttDelay = time.Millisecond

// rttConn delays the first read after a write until rtt after that write:
// a request's answer arrives one round trip after it was sent.
type rttConn struct {
	net.Conn
	rtt     time.Duration
	written time.Time
}

func (c *rttConn) Write(p []byte) (int, error) {
	if c.written.IsZero() {
		c.written = time.Now()
	}
	return c.Conn.Write(p)
}

func (c *rttConn) Read(p []byte) (int, error) {
	if !c.written.IsZero() {
		time.Sleep(time.Until(c.written.Add(c.rtt)))
		c.written = time.Time{}
	}
	return c.Conn.Read(p)
}

// BenchmarkClusterDecision measures, on a real 3-master Cluster, one
// decision whose three limits live on three masters (one pipeline) against
// a decision with one limit on one master (the baseline) and against the
// same three limits asked one master after the other (what one round trip
// per master would cost), in 21 interleaved rounds of 100 decisions. The
// ratios are the medians of the rounds' ratios of µs per decision.
//
// Every connection adds a simulated network round trip (rttDelay, a sleep
// that costs no CPU) to each request-response exchange, as a network
// between gateway and Redis does: on loopback the round trip is the CPU
// of the two processes, which a 2-core machine cannot run in parallel
// for three masters, and which would hide what the pipeline saves.
func BenchmarkClusterDecision(b *testing.B) {
	const rounds, calls = 21, 100
	cluster := redistest.StartCluster(b, 3)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), MaxRetries: -1,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, DisableIdentity: true,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &rttConn{Conn: c, rtt: rttDelay}, nil
		}})
	b.Cleanup(func() { client.Close() })
	store := NewRedisStore(client, 2*time.Second, nil, nil)
	ctx := context.Background()
	rule := Rule{Algorithm: FixedWindow, Limit: 1 << 40, Period: time.Hour}
	keys := keysPerMaster(b, store.(*clusterStore))
	three := func(i int) []Charge {
		out := make([]Charge, 3)
		for j := range out {
			out[j] = Charge{Key: keys[j][i%64], Rule: rule, Hits: 1}
		}
		return out
	}
	variants := []struct {
		name string
		run  func(i int) error
	}{
		{"one-master", func(i int) error { _, err := store.Apply(ctx, three(i)[:1]); return err }},
		{"three-masters", func(i int) error { _, err := store.Apply(ctx, three(i)); return err }},
		{"three-sequential", func(i int) error {
			for _, c := range three(i) {
				if _, err := store.Apply(ctx, []Charge{c}); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	perCall := make([][]float64, len(variants))
	for round := range rounds {
		for k := range variants {
			v := variants[(k+round)%len(variants)]
			start := time.Now()
			for i := range calls {
				if err := v.run(i); err != nil {
					b.Fatal(err)
				}
			}
			perCall[(k+round)%len(variants)] = append(perCall[(k+round)%len(variants)], float64(time.Since(start).Microseconds())/calls)
		}
	}
	ratio := func(a, base []float64) float64 {
		r := make([]float64, len(a))
		for i := range a {
			r[i] = a[i] / base[i]
		}
		return median(r)
	}
	b.ReportMetric(float64(rttDelay.Microseconds()), "rtt-µs")
	b.ReportMetric(median(perCall[0]), "one-master-µs")
	b.ReportMetric(median(perCall[1]), "three-masters-µs")
	b.ReportMetric(median(perCall[2]), "three-sequential-µs")
	b.ReportMetric(ratio(perCall[1], perCall[0]), "three-masters/one")
	b.ReportMetric(ratio(perCall[2], perCall[0]), "three-sequential/one")
	for range b.N {
	}
}

// keysPerMaster is 64 keys on each of three masters.
func keysPerMaster(b *testing.B, s *clusterStore) [3][]string {
	b.Helper()
	ctx := context.Background()
	var out [3][]string
	index := map[string]int{}
	for n := 0; len(out[0]) < 64 || len(out[1]) < 64 || len(out[2]) < 64; n++ {
		k := fmt.Sprintf("bench|%d", n)
		m, err := s.client.MasterForKey(ctx, clusterKey(k))
		if err != nil {
			b.Fatal(err)
		}
		j, ok := index[m.Options().Addr]
		if !ok {
			j = len(index)
			index[m.Options().Addr] = j
		}
		if len(out[j]) < 64 {
			out[j] = append(out[j], k)
		}
	}
	return out
}
