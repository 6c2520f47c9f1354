package ratelimiter

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/testenv"
)

// transitions counts the failover store's state changes in its log.
func transitions(logs *testenv.Buffer) (degraded, recovered int) {
	return strings.Count(logs.String(), "entering degraded mode"), strings.Count(logs.String(), "rate limiting recovered")
}

// heldCall is one Apply waiting in heldStore for the test's answer.
type heldCall struct{ answer chan error }

// heldStore hands each Apply to the test, which answers when it likes:
// calls that were in flight when the state changed can then finish in any
// order.
type heldStore struct{ calls chan heldCall }

func (s heldStore) Apply(_ context.Context, charges []Charge) ([]Result, error) {
	c := heldCall{answer: make(chan error)}
	s.calls <- c
	if err := <-c.answer; err != nil {
		return nil, err
	}
	results := make([]Result, len(charges))
	for i := range results {
		results[i] = Result{Allowed: true}
	}
	return results, nil
}

// Only a probe's answer changes the state: a call that was in flight
// before Redis failed and succeeds afterwards does not end the degraded
// mode, and a call from before the recovery that fails afterwards does
// not start another. One outage is one degraded and one recovered
// transition, whatever the order calls finish in.
func TestOnlyProbesChangeTheFailoverState(t *testing.T) {
	clock := newClock()
	store := heldStore{calls: make(chan heldCall)}
	logs := &testenv.Buffer{}
	metrics := NewMetrics(nil)
	fs := newFailoverStore(store, FailoverOptions{Mode: FailClosed, Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: metrics, Now: clock.Now})
	charge := []Charge{{Key: "k", Rule: Rule{Algorithm: FixedWindow, Limit: 10, Period: time.Hour}, Hits: 1}}
	apply := func() chan []Result {
		done := make(chan []Result, 1)
		go func() { r, _ := fs.Apply(context.Background(), charge); done <- r }()
		return done
	}

	// Two calls start while Redis is healthy and stay in flight.
	lateOK, lateOKCall := apply(), <-store.calls
	lateErr, lateErrCall := apply(), <-store.calls
	// A third fails: degraded.
	failing := apply()
	(<-store.calls).answer <- ErrUnavailable
	<-failing
	// The first in-flight call succeeds now: it says nothing about Redis
	// since the failure.
	lateOKCall.answer <- nil
	<-lateOK
	if d, r := transitions(logs); d != 1 || r != 0 {
		t.Fatalf("after a late success: %d degraded, %d recovered transitions; want 1, 0", d, r)
	}
	if res := <-apply(); res[0].Allowed || !res[0].Fallback {
		t.Fatalf("still degraded (fail_closed) before the next probe, got %+v", res[0])
	}
	// The probe succeeds: recovered.
	clock.Advance(probeEvery)
	probe := apply()
	(<-store.calls).answer <- nil
	if res := <-probe; !res[0].Allowed || res[0].Fallback {
		t.Fatalf("a successful probe was not Redis's answer: %+v", res[0])
	}
	// The second in-flight call, from before the outage, fails now.
	lateErrCall.answer <- errors.Join(ErrUnavailable, errors.New("late"))
	<-lateErr
	if d, r := transitions(logs); d != 1 || r != 1 {
		t.Errorf("one outage: %d degraded, %d recovered transitions; want 1, 1\n%s", d, r, logs)
	}
	if v := testutil.ToFloat64(metrics.degraded.WithLabelValues("fail_closed")); v != 0 {
		t.Errorf("degraded gauge = %v after recovery, want 0", v)
	}
	// And calls go to Redis again.
	next := apply()
	(<-store.calls).answer <- nil
	if res := <-next; res[0].Fallback {
		t.Errorf("after recovery a call was answered by the failure mode")
	}
}

// Redis killed long enough for many failed dials, then restarted: the
// very first probe after it is back recovers. go-redis's pool stops dialing
// after PoolSize failed dials and then redials once a second by itself
// (internal/pool tryDial); Tollgate's own probe must not wait for that.
// The clock is fake: probes are counted, not timed.
func TestFirstProbeAfterRedisRestartRecovers(t *testing.T) {
	srv := startRedis(t)
	clock := newClock()
	logs := &testenv.Buffer{}
	// A refused dial fails at once; the deadline only has to be long
	// enough that a loaded machine never misses it while Redis is up.
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: 2 * time.Second})
	t.Cleanup(func() { client.Close() })
	fs := newFailoverStore(NewRedisStore(client, 2*time.Second, nil, nil), FailoverOptions{
		Mode: FailClosed, Log: slog.New(slog.NewJSONHandler(logs, nil)), Now: clock.Now,
	})
	charge := []Charge{{Key: "k", Rule: Rule{Algorithm: FixedWindow, Limit: 1000, Period: time.Hour}, Hits: 1}}
	apply := func() Result {
		clock.Advance(probeEvery)
		res, err := fs.Apply(context.Background(), charge)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	if r := apply(); r.Fallback {
		t.Fatal("Redis up: answered by the failure mode")
	}
	srv.Stop()
	// More failed dials than go-redis's pool size (10 per CPU).
	for range 10*runtime.GOMAXPROCS(0) + 5 {
		if r := apply(); !r.Fallback {
			t.Fatal("Redis down: not answered by the failure mode")
		}
	}
	srv.Restart()
	if r := apply(); r.Fallback {
		t.Errorf("the first probe after Redis came back did not reach it")
	}
	if d, r := transitions(logs); d != 1 || r != 1 {
		t.Errorf("one outage: %d degraded, %d recovered transitions; want 1, 1\n%s", d, r, logs)
	}
}
