package ratelimiter

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/policy"
)

// fakeClock is a settable clock shared by stores under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newService(t testing.TB, yaml string, store Store, remote bool, clock func() time.Time) *Service {
	t.Helper()
	l, err := Compile(policytest.Load(t, yaml), store, remote)
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(quiet, nil, nil, clock)
	s.Swap(l)
	return s
}

func redisStoreFor(t testing.TB, addrs []string, cluster bool, clock func() time.Time) Store {
	t.Helper()
	c := NewRedisClient(RedisOptions{Addrs: addrs, Cluster: cluster, Timeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return NewRedisStore(c, 2*time.Second, nil, clock)
}

func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }

// desc builds a descriptor for limit with key/value pairs.
func desc(limit string, kv ...string) Descriptor {
	d := Descriptor{{policy.DescriptorLimit, limit}}
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, Entry{kv[i], kv[i+1]})
	}
	return d
}

func decide(t testing.TB, s *Service, ds ...Descriptor) *Decision {
	t.Helper()
	d, err := s.Decide(context.Background(), Request{Descriptors: ds})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
