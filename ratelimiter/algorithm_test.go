package ratelimiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one request at an offset from the start, and the verdict wanted.
type step struct {
	at    time.Duration
	allow bool
}

// run applies steps to one key of rule on a fresh memory store.
func runSteps(t *testing.T, store func(clock *fakeClock) Store, rule Rule, steps []step) string {
	t.Helper()
	clock := newClock()
	s := store(clock)
	start := clock.Now()
	var got strings.Builder
	key := fmt.Sprintf("k-%d", time.Now().UnixNano())
	for _, st := range steps {
		clock.Advance(start.Add(st.at).Sub(clock.Now()))
		res, err := s.Apply(context.Background(), []Charge{{Key: key, Rule: rule, Hits: 1}})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "%v@%v/%d ", res[0].Allowed, st.at, res[0].Remaining)
		if res[0].Allowed != st.allow {
			t.Errorf("at %v: allowed=%v, want %v", st.at, res[0].Allowed, st.allow)
		}
	}
	return got.String()
}

func memory(c *fakeClock) Store { return newMemoryStore(c.Now) }

var algorithmCases = []struct {
	name  string
	rule  Rule
	steps []step
}{
	{
		// 2/s with a burst of 3: three at once, then one every 500ms.
		"token bucket burst then steady rate",
		Rule{Algorithm: TokenBucket, Limit: 3, Period: time.Second, Rate: 2},
		[]step{{0, true}, {0, true}, {0, true}, {0, false}, {499 * time.Millisecond, false},
			{500 * time.Millisecond, true}, {600 * time.Millisecond, false}, {time.Second, true}, {time.Second, false},
			{3 * time.Second, true}, {3 * time.Second, true}, {3 * time.Second, true}, {3 * time.Second, false}},
	},
	{
		// 3 per second, rolling: a burst at the end of one second does not
		// allow another at the start of the next (no double burst).
		"sliding window boundary",
		Rule{Algorithm: SlidingWindow, Limit: 3, Period: time.Second},
		[]step{{900 * time.Millisecond, true}, {950 * time.Millisecond, true}, {999 * time.Millisecond, true},
			{1000 * time.Millisecond, false}, {1100 * time.Millisecond, false}, {1899 * time.Millisecond, false},
			{1900 * time.Millisecond, true}, {1901 * time.Millisecond, false}, {1950 * time.Millisecond, true},
			{1999 * time.Millisecond, true}, {2000 * time.Millisecond, false}},
	},
	{
		// envoyproxy/ratelimit semantics: windows aligned to the epoch,
		// so a burst at the end of one window and another at the start of
		// the next are both admitted.
		"fixed window parity with envoyproxy/ratelimit",
		Rule{Algorithm: FixedWindow, Limit: 3, Period: time.Second},
		[]step{{900 * time.Millisecond, true}, {950 * time.Millisecond, true}, {999 * time.Millisecond, true},
			{999 * time.Millisecond, false}, {1000 * time.Millisecond, true}, {1001 * time.Millisecond, true},
			{1002 * time.Millisecond, true}, {1999 * time.Millisecond, false}, {2000 * time.Millisecond, true}},
	},
}

func TestAlgorithms(t *testing.T) {
	for _, tc := range algorithmCases {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, memory, tc.rule, tc.steps) })
	}
}

// TestMemoryAndRedisDecideAlike runs the same sequences on both stores with
// the same clock and compares every verdict and remaining count.
func TestMemoryAndRedisDecideAlike(t *testing.T) {
	srv := startRedis(t)
	redisStore := func(c *fakeClock) Store { return redisStoreFor(t, []string{srv.Addr}, false, c.Now) }
	for _, tc := range algorithmCases {
		t.Run(tc.name, func(t *testing.T) {
			mem := runSteps(t, memory, tc.rule, tc.steps)
			red := runSteps(t, redisStore, tc.rule, tc.steps)
			if mem != red {
				t.Errorf("memory and Redis differ:\nmemory %s\nredis  %s", mem, red)
			}
		})
	}
}

func TestFixedWindowResetAndRetryAfter(t *testing.T) {
	r := Rule{Algorithm: FixedWindow, Limit: 1, Period: time.Minute}
	now := time.Unix(1_800_000_000, 0).Add(15 * time.Second).UnixMicro() // 1_800_000_000 is a whole minute
	if res := fixedWindow(r, 1, now, 1); res.Allowed || res.RetryAfter != 45*time.Second {
		t.Errorf("got %+v, want refused with retry after 45s", res)
	}
}

func TestShareDividesTheLimit(t *testing.T) {
	r := Rule{Algorithm: TokenBucket, Limit: 20, Rate: 10, Period: time.Second}.Share(3)
	if r.Limit != 6 || r.Rate != 3 {
		t.Errorf("got %+v", r)
	}
	if r := (Rule{Algorithm: SlidingWindow, Limit: 2, Period: time.Second}).Share(5); r.Limit != 1 {
		t.Errorf("share is at least 1, got %d", r.Limit)
	}
}

func TestMemoryStoreReclaimsExpiredKeys(t *testing.T) {
	clock := newClock()
	s := newMemoryStore(clock.Now)
	rules := []Rule{
		{Algorithm: TokenBucket, Limit: 5, Period: time.Second, Rate: 5},
		{Algorithm: SlidingWindow, Limit: 5, Period: time.Second},
		{Algorithm: FixedWindow, Limit: 5, Period: time.Second},
	}
	for i := range 3000 {
		r := rules[i%3]
		if _, err := s.Apply(context.Background(), []Charge{{Key: fmt.Sprintf("%d-%d", r.Algorithm, i), Rule: r, Hits: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Sweep(); n != 3000 {
		t.Fatalf("live keys swept: %d left, want 3000", n)
	}
	clock.Advance(2 * time.Second)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("%d keys left after they expired", n)
	}
}
