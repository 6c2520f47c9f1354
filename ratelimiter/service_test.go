package ratelimiter

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/policy"
)

const limitsYAML = `
rate_limits:
  per-ip-anonymous: { when: anonymous, key: [client_ip], token_bucket: { rate: 1/s, burst: 2 } }
  per-client: { when: authenticated, key: [client_id], fixed_window: { limit: 5, window: 1m }, headers: true }
  per-route: { key: [route], fixed_window: { limit: 4, window: 1m } }
  gold: { key: [client_id], fixed_window: { limit: 3, window: 1m } }
  free: { key: [client_id], fixed_window: { limit: 1, window: 1m } }
  shadow: { key: [client_ip], fixed_window: { limit: 1, window: 1m }, shadow: true }
  per-tenant: { key: [header:x-tenant], fixed_window: { limit: 1, window: 1m } }
tiers:
  gold: { rate_limits: [gold] }
  free: { rate_limits: [free] }
`

func anon(limit, ip, route string) Descriptor {
	return desc(limit, policy.DescriptorRoute, route, policy.DescriptorClientIP, ip)
}

func authed(limit, ip, client, tier string) Descriptor {
	return desc(limit, policy.DescriptorRoute, "orders", policy.DescriptorClientIP, ip,
		policy.DescriptorAuth, "api_key", "client_id", client, "tier", tier)
}

func TestConditionsChooseTheLimit(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	// Anonymous: the per-IP bucket (burst 2) refuses the third request;
	// the authenticated limit does not apply.
	for i, want := range []bool{true, true, false} {
		d := decide(t, s, anon("per-ip-anonymous", "10.0.0.1", "orders"), anon("per-client", "10.0.0.1", "orders"))
		if d.Allowed != want {
			t.Fatalf("anonymous request %d: allowed=%v", i, d.Allowed)
		}
		if d.Statuses[1].Applied {
			t.Fatal("per-client applied to an anonymous request")
		}
	}
	// Authenticated from the same IP: per-client (5) applies, per-IP not.
	for i := range 5 {
		d := decide(t, s, authed("per-ip-anonymous", "10.0.0.1", "c1", "gold"), authed("per-client", "10.0.0.1", "c1", "gold"))
		if !d.Allowed || d.Statuses[0].Applied {
			t.Fatalf("authenticated request %d: %+v", i, d)
		}
	}
	if d := decide(t, s, authed("per-client", "10.0.0.1", "c1", "gold")); d.Allowed || d.RefusingLimit() != "per-client" {
		t.Fatalf("sixth authenticated request: %+v", d)
	}
}

func TestTiersMapToLimits(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	count := func(client, tier string) int {
		n := 0
		for range 10 {
			if decide(t, s, authed("gold", "10.0.0.9", client, tier), authed("free", "10.0.0.9", client, tier)).Allowed {
				n++
			}
		}
		return n
	}
	if gold, free := count("g", "gold"), count("f", "free"); gold != 3 || free != 1 {
		t.Errorf("admitted: gold %d (want 3), free %d (want 1)", gold, free)
	}
	if other := count("o", "platinum"); other != 10 {
		t.Errorf("a tier with no limits: admitted %d of 10", other)
	}
}

func TestNoLimitIsChargedWhenAnotherRefuses(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	// per-route allows 4, per-ip-anonymous 2: requests from 10 IPs on one
	// route use the route's 4; the per-IP refusals must not use it up.
	ip := func(i int) string { return "10.1.0." + string(rune('0'+i)) }
	for range 3 { // third is refused per IP and must not charge per-route
		decide(t, s, anon("per-ip-anonymous", ip(1), "r"), anon("per-route", ip(1), "r"))
	}
	if d := decide(t, s, anon("per-ip-anonymous", ip(2), "r"), anon("per-route", ip(2), "r")); !d.Allowed {
		t.Fatalf("refused: %s", d.RefusingLimit())
	}
	d := decide(t, s, anon("per-ip-anonymous", ip(3), "r"), anon("per-route", ip(3), "r"))
	if !d.Allowed || d.Statuses[1].Result.Remaining != 0 {
		t.Fatalf("per-route should have admitted its 4th with 0 remaining: %+v", d.Statuses[1])
	}
	if d := decide(t, s, anon("per-ip-anonymous", ip(4), "r"), anon("per-route", ip(4), "r")); d.Allowed || d.RefusingLimit() != "per-route" {
		t.Fatalf("5th on the route: allowed=%v by %s", d.Allowed, d.RefusingLimit())
	}
}

func TestShadowNeverRefuses(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	for range 5 {
		d := decide(t, s, anon("shadow", "10.0.0.7", "r"))
		if !d.Allowed {
			t.Fatal("a shadow limit refused")
		}
	}
	m := s.metrics.decisions.WithLabelValues("shadow", "shadow_refused")
	if v := testutilValue(m); v != 4 {
		t.Errorf("shadow refusals counted: %v, want 4", v)
	}
}

func TestHeaderKeyAndMissingHeader(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	acme := desc("per-tenant", "header:x-tenant", "acme")
	if !decide(t, s, acme).Allowed || decide(t, s, acme).Allowed {
		t.Fatal("per-tenant: want the first admitted and the second refused")
	}
	if !decide(t, s, desc("per-tenant", "header:x-tenant", "globex")).Allowed {
		t.Fatal("another tenant shares the counter")
	}
	if d := decide(t, s, desc("per-tenant")); !d.Allowed || d.Statuses[0].Applied {
		t.Fatal("a request without the header must not be counted by a header-keyed limit")
	}
}

func TestRefusalHeadersAndBody(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(newClock().Now), false, nil)
	var d *Decision
	for range 3 {
		d = decide(t, s, anon("per-ip-anonymous", "10.0.0.3", "r"))
	}
	h := map[string]string{}
	for _, x := range d.Headers() {
		h[x.Name] = x.Value
	}
	want := map[string]string{"RateLimit-Policy": `"per-ip-anonymous";q=2;w=2`, "RateLimit": `"per-ip-anonymous";r=0;t=1`,
		"Retry-After": "1", "Content-Type": "application/json"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: got %q, want %q", k, h[k], v)
		}
	}
	var body refusalBody
	if err := json.Unmarshal(d.Body(""), &body); err != nil || body.Limit != "per-ip-anonymous" || body.LimitType != "per-ip" {
		t.Errorf("body %s: %v", d.Body(""), err)
	}
	// An admitted request gets headers only from limits that ask.
	if h := decide(t, s, anon("per-route", "10.0.0.3", "r")).Headers(); h != nil {
		t.Errorf("per-route has headers: false, got %v", h)
	}
	if h := decide(t, s, authed("per-client", "1.1.1.1", "c9", "")).Headers(); len(h) != 2 || !strings.HasPrefix(h[1].Value, `"per-client";r=4;t=`) {
		t.Errorf("per-client asks for headers: got %v", h)
	}
}

// TestRLSOverGRPC sends descriptors as Envoy would, including the
// identity entries the authz filter provides, over a real gRPC
// connection.
func TestRLSOverGRPC(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(nil), false, nil)
	client := serveRLS(t, s)
	entries := func(kv ...string) *commonrlv3.RateLimitDescriptor {
		d := &commonrlv3.RateLimitDescriptor{}
		for i := 0; i+1 < len(kv); i += 2 {
			d.Entries = append(d.Entries, &commonrlv3.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
		}
		return d
	}
	req := &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: []*commonrlv3.RateLimitDescriptor{
		entries("limit", "free", "route", "orders", "remote_address", "10.0.0.1", "auth", "api_key", "client_id", "c-7", "tier", "free"),
	}}
	resp, err := client.ShouldRateLimit(context.Background(), req)
	if err != nil || resp.OverallCode != rlsv3.RateLimitResponse_OK {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp, err = client.ShouldRateLimit(context.Background(), req)
	if err != nil {
		t.Fatalf("a refusal must not be a gRPC error: %v", err)
	}
	if resp.OverallCode != rlsv3.RateLimitResponse_OVER_LIMIT || !strings.Contains(string(resp.RawBody), `"limit":"free"`) {
		t.Fatalf("second: %v", resp)
	}
	if st := resp.Statuses[0]; st.Code != rlsv3.RateLimitResponse_OVER_LIMIT || st.CurrentLimit.Name != "free" {
		t.Fatalf("status: %v", st)
	}
}

func serveRLS(t testing.TB, s *Service) rlsv3.RateLimitServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	NewServer(s).Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rlsv3.NewRateLimitServiceClient(conn)
}

// TestTwoInstancesShareRedisUnderConcurrency: two services on one real
// Redis, many concurrent clients, never more admitted than the limit in a
// window.
func TestTwoInstancesShareRedisUnderConcurrency(t *testing.T) {
	srv := startRedis(t)
	const yaml = "rate_limits:\n  shared: { key: [route], sliding_window: { limit: 50, window: 1m } }\n"
	a := newService(t, yaml, redisStoreFor(t, []string{srv.Addr}, false, nil), true, nil)
	b := newService(t, yaml, redisStoreFor(t, []string{srv.Addr}, false, nil), true, nil)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if decide(t, s, desc("shared", "route", "orders")).Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 50 {
		t.Errorf("admitted %d of 400, want exactly 50", n)
	}
}

// TestClusterSeveralDescriptorsOneSlot: on a real 3-node Redis Cluster,
// decisions over several keys never fail with CROSSSLOT, and two
// instances share the counters.
func TestClusterSeveralDescriptorsOneSlot(t *testing.T) {
	cluster := startCluster(t)
	a := newService(t, limitsYAML, redisStoreFor(t, cluster.Addrs(), true, nil), true, nil)
	b := newService(t, limitsYAML, redisStoreFor(t, cluster.Addrs()[1:], true, nil), true, nil)
	store := redisStoreFor(t, cluster.Addrs(), true, nil)
	for i := range 20 {
		keys := []Charge{
			{Key: "a|" + string(rune('a'+i)), Rule: Rule{Algorithm: TokenBucket, Limit: 5, Rate: 5, Period: time.Second}, Hits: 1},
			{Key: "b|" + string(rune('a'+i)), Rule: Rule{Algorithm: SlidingWindow, Limit: 5, Period: time.Second}, Hits: 1},
			{Key: "c|" + string(rune('a'+i)), Rule: Rule{Algorithm: FixedWindow, Limit: 5, Period: time.Second}, Hits: 1},
		}
		if _, err := store.Apply(context.Background(), keys); err != nil {
			t.Fatalf("decision over three keys: %v", err)
		}
	}
	admitted := 0
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		ip := "10.9.0." + string(rune('0'+i))
		ds := []Descriptor{anon("per-ip-anonymous", ip, "orders"), anon("per-route", ip, "orders"), anon("shadow", ip, "orders")}
		d, err := s.Decide(context.Background(), Request{Descriptors: ds})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range d.Statuses {
			if st.Result.Limit == 0 {
				t.Fatal("the store failed (CROSSSLOT?)")
			}
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted != 4 {
		t.Errorf("per-route (4 per minute) shared by both instances: admitted %d of 8", admitted)
	}
}

func testutilValue(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func startCluster(t testing.TB) *redistest.Cluster { return redistest.StartCluster(t, 3) }

// TestSentinel reaches the master through a real Sentinel.
func TestSentinel(t *testing.T) {
	master := startRedis(t)
	sentinel := redistest.StartSentinel(t, master, "tollgate-master")
	client := NewRedisClient(RedisOptions{Addrs: []string{sentinel.Addr}, SentinelMaster: "tollgate-master", Timeout: 2 * time.Second})
	t.Cleanup(func() { client.Close() })
	s := newService(t, limitsYAML, NewRedisStore(client, 2*time.Second, nil, nil), true, nil)
	if got := decide(t, s, desc("per-tenant", "header:x-tenant", "acme")); !got.Allowed || got.Statuses[0].Result.Limit != 1 {
		t.Fatalf("first: %+v", got.Statuses[0])
	}
	if decide(t, s, desc("per-tenant", "header:x-tenant", "acme")).Allowed {
		t.Fatal("second admitted")
	}
	direct := NewRedisClient(RedisOptions{Addrs: []string{master.Addr}, Timeout: 2 * time.Second})
	t.Cleanup(func() { direct.Close() })
	keys, err := direct.Keys(context.Background(), keyPrefix+"per-tenant*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the master holds %v (%v), want one per-tenant key", keys, err)
	}
}
