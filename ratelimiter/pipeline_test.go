package ratelimiter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// pipelinedStore is a single-node store with its own metrics, and a
// second client to pause Redis with.
func pipelinedStore(t *testing.T, timeout time.Duration) (*redisStore, *Metrics, *redis.Client) {
	t.Helper()
	srv := startRedis(t)
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout})
	t.Cleanup(func() { client.Close() })
	m := NewMetrics(prometheus.NewRegistry())
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { admin.Close() })
	return NewRedisStore(client, timeout, m, nil).(*redisStore), m, admin
}

// batches reads the batch-size histogram: how many writes, how many
// decisions they carried.
func batches(t *testing.T, m *Metrics) (writes uint64, decisions float64) {
	t.Helper()
	var out dto.Metric
	if err := m.redisBatch.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount(), out.GetHistogram().GetSampleSum()
}

var oneHit = []Charge{{Key: "k", Rule: Rule{Algorithm: FixedWindow, Limit: 20, Period: time.Hour}, Hits: 1}}

// TestPipelinedStoreNeverAdmitsMoreThanTheLimit: 200 concurrent decisions
// on a limit of 20, pipelined together, admit exactly 20.
func TestPipelinedStoreNeverAdmitsMoreThanTheLimit(t *testing.T) {
	store, m, _ := pipelinedStore(t, 5*time.Second)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := store.Apply(context.Background(), oneHit)
			if err != nil {
				t.Error(err)
				return
			}
			if r[0].Allowed {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 20 {
		t.Errorf("admitted %d of 200, want exactly 20", n)
	}
	if _, n := batches(t, m); n != 200 {
		t.Errorf("batches carried %v decisions, want 200", n)
	}
}

// TestLoneDecisionIsSentAlone: after an idle period a decision is sent at
// once, in a batch of one, as a plain EVALSHA (no pipeline).
func TestLoneDecisionIsSentAlone(t *testing.T) {
	store, m, _ := pipelinedStore(t, 5*time.Second)
	hook := &pipelines{}
	store.client.AddHook(hook)
	if _, err := store.Apply(context.Background(), oneHit); err != nil {
		t.Fatal(err)
	}
	if w, n := batches(t, m); w != 1 || n != 1 {
		t.Fatalf("%d writes carrying %v decisions, want 1 write of 1", w, n)
	}
	if p := hook.pipes.Load(); p != 0 {
		t.Fatalf("%d pipelines for a lone decision, want 0", p)
	}
}

// TestDecisionsWaitingShareOneWrite: while one decision is in flight
// (Redis paused), the others queue; when it returns they all go in one
// pipelined write, each answered.
func TestDecisionsWaitingShareOneWrite(t *testing.T) {
	store, m, admin := pipelinedStore(t, 10*time.Second)
	if _, err := store.Apply(context.Background(), oneHit); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", 1500, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 30
	errs := make(chan error, n)
	go func() { _, err := store.Apply(context.Background(), oneHit); errs <- err }()
	eventually(t, func() bool { return inFlight(store.batch) })
	for range n - 1 {
		go func() { _, err := store.Apply(context.Background(), oneHit); errs <- err }()
	}
	eventually(t, func() bool { return queued(store.batch) == n-1 })
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The script load, the first decision, then the other 29 together.
	if w, d := batches(t, m); w != 3 || d != n+1 {
		t.Fatalf("%d writes carrying %v decisions, want 3 carrying %d", w, d, n+1)
	}
}

// TestSlowRedisAnswersEachDecisionByItsDeadline: Redis paused far longer
// than the store's timeout; every decision, the one in flight and the
// ones queued behind it, fails with its deadline as ErrUnavailable (which
// the failover store answers in its failure mode).
func TestSlowRedisAnswersEachDecisionByItsDeadline(t *testing.T) {
	store, _, admin := pipelinedStore(t, 300*time.Millisecond)
	if _, err := store.Apply(context.Background(), oneHit); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", 60000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() { _, err := store.Apply(context.Background(), oneHit); errs <- err }()
	}
	timeout := time.After(20 * time.Second) // generous, far below the pause
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want ErrUnavailable from the deadline", err)
			}
		case <-timeout:
			t.Fatal("a decision was not answered while Redis was paused")
		}
	}
}

func inFlight(b *batcher) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running && len(b.pending) == 0
}

func queued(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
