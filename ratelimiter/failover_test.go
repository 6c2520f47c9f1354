package ratelimiter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/testenv"
)

// TestRedisStoppedMidTraffic stops a real Redis in the middle of traffic
// and checks each failure mode, its metric and log, and recovery.
func TestRedisStoppedMidTraffic(t *testing.T) {
	const yaml = "rate_limits:\n  per-ip: { key: [client_ip], fixed_window: { limit: 10, window: 1h } }\n"
	cases := []struct {
		mode Mode
		// admittedWhileDown is how many of 20 requests from a fresh IP
		// the mode admits while Redis is down.
		admittedWhileDown int
		degraded          string
	}{
		{FailOpen, 20, "fail_open"},
		{FailClosed, 0, "fail_closed"},
		// Two instances were seen through Redis: this one enforces 10/2.
		{Grace, 5, "grace"},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			srv := startRedis(t)
			logs := &testenv.Buffer{}
			metrics := NewMetrics(nil)
			client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: 100 * time.Millisecond})
			t.Cleanup(func() { client.Close() })
			fs := newFailoverStore(NewRedisStore(client, 100*time.Millisecond, metrics, nil), FailoverOptions{
				Mode: tc.mode, GracePeriod: time.Hour, Then: FailClosed, Metrics: metrics,
				Log: slog.New(slog.NewTextHandler(logs, nil)),
			})
			// Another instance's heartbeat, then ours: two live instances.
			if _, err := heartbeat(context.Background(), client, "other", time.Minute); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go fs.heartbeatEvery(ctx, client, "me", time.Hour)
			waitFor(t, func() bool { return fs.Instances() == 2 })
			s := newService(t, yaml, fs, true, nil)

			count := func(ip string, n int) int {
				admitted := 0
				for range n {
					if decide(t, s, desc("per-ip", "remote_address", ip)).Allowed {
						admitted++
					}
				}
				return admitted
			}
			if got := count("10.0.0.1", 12); got != 10 {
				t.Fatalf("with Redis up: admitted %d of 12, want 10", got)
			}
			srv.Stop()
			if got := count("10.0.0.2", 20); got != tc.admittedWhileDown {
				t.Errorf("Redis down, %s: admitted %d of 20, want %d", tc.mode, got, tc.admittedWhileDown)
			}
			if v := testutil.ToFloat64(metrics.degraded.WithLabelValues(tc.degraded)); v != 1 {
				t.Errorf("tollgate_ratelimit_degraded{mode=%q} = %v, want 1", tc.degraded, v)
			}
			if testutil.ToFloat64(metrics.redisErrors) == 0 {
				t.Error("no Redis error counted")
			}
			if n := strings.Count(logs.String(), "entering degraded mode"); n != 1 {
				t.Errorf("entering degraded mode logged %d times, want once:\n%s", n, logs)
			}

			srv.Restart()
			// Recovery is automatic: within a probe interval, Redis answers
			// again and limits are shared once more (the restarted Redis is
			// empty, so the IP has its full 10).
			waitFor(t, func() bool {
				d := decide(t, s, desc("per-ip", "remote_address", "10.0.0.3"))
				return d.Allowed && !d.Statuses[0].Result.Fallback
			})
			if got := count("10.0.0.3", 12); got != 9 {
				t.Errorf("after recovery: admitted %d of 12, want the 9 left", got)
			}
			if v := testutil.ToFloat64(metrics.degraded.WithLabelValues(tc.degraded)); v != 0 {
				t.Errorf("still degraded after recovery")
			}
			if n := strings.Count(logs.String(), "recovered"); n != 1 {
				t.Errorf("recovery logged %d times, want once", n)
			}
		})
	}
}

func TestGraceEndsInTheTerminalMode(t *testing.T) {
	clock := newClock()
	down := storeFunc(func(context.Context, []Charge) ([]Result, error) { return nil, ErrUnavailable })
	metrics := NewMetrics(nil)
	fs := newFailoverStore(down, FailoverOptions{Mode: Grace, GracePeriod: 30 * time.Second, Then: FailClosed, Log: quiet, Metrics: metrics, Now: clock.Now})
	rule := Rule{Algorithm: FixedWindow, Limit: 100, Period: time.Hour}
	res, _ := fs.Apply(context.Background(), []Charge{{Key: "k", Rule: rule, Hits: 1}})
	if !res[0].Allowed {
		t.Fatal("grace refused the first request")
	}
	clock.Advance(31 * time.Second)
	res, _ = fs.Apply(context.Background(), []Charge{{Key: "k", Rule: rule, Hits: 1}})
	if res[0].Allowed {
		t.Fatal("after the grace period fail_closed should refuse")
	}
	if testutil.ToFloat64(metrics.degraded.WithLabelValues("fail_closed")) != 1 || testutil.ToFloat64(metrics.degraded.WithLabelValues("grace")) != 0 {
		t.Error("degraded gauge did not move from grace to fail_closed")
	}
}

type storeFunc func(context.Context, []Charge) ([]Result, error)

func (f storeFunc) Apply(ctx context.Context, c []Charge) ([]Result, error) { return f(ctx, c) }

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCallerGivingUpDoesNotDegradeTheStore: a request whose caller has
// gone (Envoy's deadline passed while it waited in a frozen or overloaded
// Tollgate) fails its Redis call through no fault of Redis. It must not
// put the store in its failure mode: with fail_closed, every fresh
// request would then be refused until the next probe, although Redis is
// fine.
func TestCallerGivingUpDoesNotDegradeTheStore(t *testing.T) {
	redis := storeFunc(func(ctx context.Context, c []Charge) ([]Result, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return []Result{{Allowed: true, Limit: c[0].Rule.Limit}}, nil
	})
	metrics := NewMetrics(nil)
	fs := newFailoverStore(redis, FailoverOptions{Mode: FailClosed, Log: quiet, Metrics: metrics, Now: newClock().Now})
	charges := []Charge{{Key: "k", Rule: Rule{Algorithm: FixedWindow, Limit: 100, Period: time.Hour}, Hits: 1}}
	stale, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = fs.Apply(stale, charges)
	res, err := fs.Apply(context.Background(), charges)
	if err != nil || !res[0].Allowed || res[0].Fallback {
		t.Errorf("a fresh request after a stale one: %+v, %v; want admitted by Redis", res, err)
	}
	if testutil.ToFloat64(metrics.degraded.WithLabelValues("fail_closed")) != 0 {
		t.Error("a caller giving up marked the store degraded")
	}
}
