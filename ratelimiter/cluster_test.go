package ratelimiter

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

func clusterClient(t testing.TB, c *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	client := NewRedisClient(RedisOptions{Addrs: c.Addrs(), Cluster: true, Timeout: 2 * time.Second}).(*redis.ClusterClient)
	t.Cleanup(func() { client.Close() })
	return client
}

// nodeClients are plain clients to each node, to read what it did.
func nodeClients(t testing.TB, c *redistest.Cluster) []*redis.Client {
	t.Helper()
	var out []*redis.Client
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// scriptCalls is how many decide or refund scripts a node ran, from INFO
// commandstats.
func scriptCalls(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		for _, cmd := range []string{"cmdstat_evalsha:", "cmdstat_eval:"} {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), cmd); ok {
				calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
				v, _ := strconv.ParseInt(calls, 10, 64)
				n += v
			}
		}
	}
	return n
}

// TestClusterSpreadsCounters: on a real 3-master Cluster, the counters of
// many keys land on every master, each doing a third of the counting
// (within ±25 %), and our slot computation agrees with Redis's.
func TestClusterSpreadsCounters(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	client := clusterClient(t, cluster)
	store := NewRedisStore(client, 2*time.Second, nil, nil)
	ctx := context.Background()
	for i := range 50 {
		key := clusterKey(fmt.Sprintf("per-ip|10.1.%d.%d", i/7, i))
		want, err := client.ClusterKeySlot(ctx, key).Result()
		if err != nil || int64(keySlot(key)) != want {
			t.Fatalf("keySlot(%q) = %d, Redis says %d (%v)", key, keySlot(key), want, err)
		}
	}
	// Every master loads the script first, so that no NOSCRIPT reply is
	// counted as a call.
	if err := client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return decideScript.Load(ctx, m).Err()
	}); err != nil {
		t.Fatal(err)
	}
	nodes := nodeClients(t, cluster)
	for _, n := range nodes {
		if err := n.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const keys = 600
	rule := Rule{Algorithm: FixedWindow, Limit: 100, Period: time.Hour}
	for i := range keys {
		if _, err := store.Apply(ctx, []Charge{{Key: fmt.Sprintf("per-ip|10.2.%d.%d", i/250, i%250), Rule: rule, Hits: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	calls := make([]int64, len(nodes))
	for i, n := range nodes {
		calls[i] = scriptCalls(t, n)
		total += calls[i]
	}
	if total != keys {
		t.Fatalf("the masters ran %d scripts for %d decisions: %v", total, keys, calls)
	}
	for i, c := range calls {
		if share := float64(c) / keys; math.Abs(share-1.0/3) > 0.25/3 {
			t.Errorf("master %s ran %.1f %% of the counting, want 33.3 %% ± 25 %% (%v)", cluster.Nodes[i].Addr, 100*share, calls)
		}
	}
	t.Logf("scripts per master: %v", calls)
}

// pipelines counts what a client sends: single commands and pipelines.
type pipelines struct{ cmds, pipes atomic.Int64 }

func (p *pipelines) DialHook(next redis.DialHook) redis.DialHook { return next }
func (p *pipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { p.cmds.Add(1); return next(ctx, cmd) }
}
func (p *pipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { p.pipes.Add(1); return next(ctx, cmds) }
}

// keysOnDistinctMasters finds one key per prefix, each on a master none
// of the others is on (as many prefixes as masters at most).
func keysOnDistinctMasters(t *testing.T, client *redis.ClusterClient, prefixes ...string) []string {
	t.Helper()
	ctx := context.Background()
	used := map[string]bool{}
	var out []string
	for _, p := range prefixes {
		for i := 0; ; i++ {
			k := fmt.Sprintf("%s|%d", p, i)
			m, err := client.MasterForKey(ctx, clusterKey(k))
			if err != nil {
				t.Fatal(err)
			}
			if addr := m.Options().Addr; !used[addr] {
				used[addr] = true
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// TestClusterAllOrNothingUnderConcurrency: decisions whose limits live on
// three masters are sent as one pipeline, and under concurrency exactly
// the narrow limit's allowance is admitted while every other limit —
// token bucket, sliding and fixed window, shadow included — ends charged
// for the admitted requests only: the refused ones were refunded.
func TestClusterAllOrNothingUnderConcurrency(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	client := clusterClient(t, cluster)
	hook := &pipelines{}
	client.AddHook(hook)
	store := NewRedisStore(client, 2*time.Second, nil, nil)
	k := keysOnDistinctMasters(t, client, "narrow", "wide-tb", "wide-sw")
	wideFW := keysOnDistinctMasters(t, client, "narrow", "wide-fw")[1]
	shadow := keysOnDistinctMasters(t, client, "narrow", "shadow")[1]
	charges := []Charge{
		{Key: k[0], Rule: Rule{Algorithm: FixedWindow, Limit: 20, Period: time.Hour}, Hits: 1},
		{Key: k[1], Rule: Rule{Algorithm: TokenBucket, Limit: 1_000_000, Rate: 1, Period: time.Hour}, Hits: 1},
		{Key: k[2], Rule: Rule{Algorithm: SlidingWindow, Limit: 1_000_000, Period: time.Hour}, Hits: 1},
		{Key: wideFW, Rule: Rule{Algorithm: FixedWindow, Limit: 1_000_000, Period: time.Hour}, Hits: 1},
		{Key: shadow, Rule: Rule{Algorithm: FixedWindow, Limit: 1_000_000, Period: time.Hour}, Hits: 1, Shadow: true},
	}
	ctx := context.Background()
	// Warm up (the masters load the script), then one decision over three
	// masters: one pipeline, no command of its own.
	for range 2 {
		hook.cmds.Store(0)
		hook.pipes.Store(0)
		if res, err := store.Apply(ctx, charges[1:4]); err != nil || !admits(charges[1:4], res) {
			t.Fatalf("decision over three masters: %v %+v", err, res)
		}
	}
	if c, p := hook.cmds.Load(), hook.pipes.Load(); c != 0 || p != 1 {
		t.Fatalf("a decision over three masters sent %d commands and %d pipelines, want one pipeline", c, p)
	}
	var admitted, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				res, err := store.Apply(ctx, charges)
				if err != nil {
					failed.Add(1)
					continue
				}
				if admits(charges, res) {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	store.(*clusterStore).refunds.Wait()
	if failed.Load() != 0 || admitted.Load() != 20 {
		t.Fatalf("admitted %d, failed %d of 200 decisions; want 20 admitted, none failed", admitted.Load(), failed.Load())
	}
	// The warm-up and the single decision charged tb, sw and wide-fw twice.
	for _, c := range []struct {
		name string
		key  string
		read func(string) int64
		want int64
	}{
		{"narrow fixed window", k[0], hashCount(t, client), 20},
		{"token bucket", k[1], tokensTaken(t, client, time.Hour), 22},
		{"sliding window", k[2], func(key string) int64 { return client.LLen(ctx, key).Val() }, 22},
		{"wide fixed window", wideFW, hashCount(t, client), 22},
		{"shadow", shadow, hashCount(t, client), 20},
	} {
		if got := c.read(clusterKey(c.key)); got != c.want {
			t.Errorf("%s: charged %d times, want %d (refused requests left charged?)", c.name, got, c.want)
		}
	}
}

func hashCount(t *testing.T, client *redis.ClusterClient) func(string) int64 {
	return func(key string) int64 {
		n, err := client.HGet(context.Background(), key, "c").Int64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// tokensTaken reads a token bucket of one token per period: how many
// tokens its theoretical arrival time is ahead of Redis's clock.
func tokensTaken(t *testing.T, client *redis.ClusterClient, period time.Duration) func(string) int64 {
	return func(key string) int64 {
		ctx := context.Background()
		tat, err := client.Get(ctx, key).Float64()
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		now, err := m.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int64(math.Round((tat - float64(now.UnixMicro())) / float64(period.Microseconds())))
	}
}

// TestSingleNodeOneRoundTripPerDecision: with a single node (no Cluster)
// a decision over several limits stays exactly one command, one round
// trip, as the per-counter hash tags of a Cluster must not change it.
// Decisions here come one at a time, so each is sent alone (a plain
// EVALSHA, no pipeline); under concurrency the store pipelines decisions
// that arrive together, and round trips per decision fall below one
// (TestDecisionsWaitingShareOneWrite).
func TestSingleNodeOneRoundTripPerDecision(t *testing.T) {
	srv := startRedis(t)
	client := NewRedisClient(RedisOptions{Addrs: []string{srv.Addr}, Timeout: 2 * time.Second})
	t.Cleanup(func() { client.Close() })
	hook := &pipelines{}
	client.AddHook(hook)
	store := NewRedisStore(client, 2*time.Second, nil, nil)
	charges := []Charge{
		{Key: "a|1", Rule: Rule{Algorithm: FixedWindow, Limit: 1, Period: time.Hour}, Hits: 1},
		{Key: "b|2", Rule: Rule{Algorithm: TokenBucket, Limit: 100, Rate: 100, Period: time.Hour}, Hits: 1},
		{Key: "c|3", Rule: Rule{Algorithm: SlidingWindow, Limit: 100, Period: time.Hour}, Hits: 1},
	}
	ctx := context.Background()
	if _, err := store.Apply(ctx, charges); err != nil { // loads the script
		t.Fatal(err)
	}
	hook.cmds.Store(0)
	const decisions = 50 // all refused by a|1 but the first: refusals cost no refund
	for range decisions {
		if _, err := store.Apply(ctx, charges); err != nil {
			t.Fatal(err)
		}
	}
	if c, p := hook.cmds.Load(), hook.pipes.Load(); c != decisions || p != 0 {
		t.Fatalf("%d decisions sent %d commands and %d pipelines, want exactly 1.000 round trip per decision", decisions, c, p)
	}
}

// refusingStore refuses every charge, for an hour, and counts its calls.
type refusingStore struct {
	calls     atomic.Int64
	tentative bool
}

func (s *refusingStore) Apply(_ context.Context, charges []Charge) ([]Result, error) {
	s.calls.Add(1)
	out := make([]Result, len(charges))
	for i, c := range charges {
		out[i] = Result{Limit: c.Rule.Limit, Reset: time.Hour, RetryAfter: time.Hour, Tentative: s.tentative}
	}
	return out, nil
}

// TestTentativeRefusalsAreCachedBriefly: a Cluster refusal may come from
// a charge about to be refunded, so the over-limit cache keeps it for
// tentativeCacheFor, not until its retry-after; a certain refusal is kept
// until then.
func TestTentativeRefusalsAreCachedBriefly(t *testing.T) {
	const yaml = "rate_limits:\n  per-ip: { key: [client_ip], fixed_window: { limit: 2, window: 1h } }\n"
	for _, tentative := range []bool{false, true} {
		clock := newClock()
		store := &refusingStore{tentative: tentative}
		s := newService(t, yaml, store, true, clock.Now)
		decide(t, s, desc("per-ip", "remote_address", "10.0.0.1"))
		decide(t, s, desc("per-ip", "remote_address", "10.0.0.1"))
		clock.Advance(tentativeCacheFor)
		decide(t, s, desc("per-ip", "remote_address", "10.0.0.1"))
		want := int64(1)
		if tentative {
			want = 2
		}
		if got := store.calls.Load(); got != want {
			t.Errorf("tentative=%v: the store was asked %d times, want %d", tentative, got, want)
		}
	}
}

// TestClusterSurvivesReshardingAndFailover keeps decisions running over
// many keys on a real Cluster of 3 masters with a replica each while the
// slot of a counted key moves to another master (CLUSTER SETSLOT and
// MIGRATE, so clients see ASK then MOVED) and a master is replaced by its
// replica (CLUSTER FAILOVER): no decision fails, and the counters end
// holding exactly the admitted decisions, none lost in the moves.
func TestClusterSurvivesReshardingAndFailover(t *testing.T) {
	cluster := redistest.StartClusterWithReplicas(t, 3, 1)
	client := clusterClient(t, cluster)
	store := NewRedisStore(client, 5*time.Second, nil, nil)
	const keys = 40
	counted := func(i int) string { return fmt.Sprintf("moved|%d", i%keys) }
	decision := func(i int) []Charge {
		return []Charge{
			{Key: counted(i), Rule: Rule{Algorithm: FixedWindow, Limit: 1 << 40, Period: 24 * time.Hour}, Hits: 1},
			{Key: fmt.Sprintf("other|%d", i%keys), Rule: Rule{Algorithm: TokenBucket, Limit: 1 << 40, Rate: 1 << 40, Period: time.Hour}, Hits: 1},
		}
	}
	ctx := context.Background()
	var admitted, done atomic.Int64
	failures := make(chan error, 100)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				res, err := store.Apply(ctx, decision(i))
				switch {
				case err != nil:
					select {
					case failures <- err:
					default:
					}
				case res[0].Allowed && res[1].Allowed:
					admitted.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	progress := func(n int64) {
		t.Helper()
		target := done.Load() + n
		deadline := time.Now().Add(30 * time.Second)
		for done.Load() < target && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if done.Load() < target {
			t.Fatal("traffic stalled")
		}
	}
	progress(200)
	moveSlot(t, cluster, keySlot(clusterKey(counted(0))))
	progress(200)
	failover(t, client, cluster, clusterKey(counted(1)))
	progress(200)
	close(stop)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("a decision failed: %v", err)
	}
	var sum int64
	for i := range keys {
		n, err := client.HGet(ctx, clusterKey(counted(i)), "c").Int64()
		if err != nil {
			t.Fatalf("%s: %v", counted(i), err)
		}
		sum += n
	}
	if sum != admitted.Load() {
		t.Errorf("the counters hold %d, want the %d admitted decisions", sum, admitted.Load())
	}
	t.Logf("%d decisions, %d admitted", done.Load(), admitted.Load())
}

// nodeFor is a plain client to the node at addr, and its node id.
func nodeFor(t *testing.T, addr string) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	id, err := c.Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	return c, id
}

// moveSlot migrates slot, keys included, from its master to another one,
// as redis-cli --cluster reshard does, and tells every master.
func moveSlot(t *testing.T, cluster *redistest.Cluster, slot int) {
	t.Helper()
	ctx := context.Background()
	var src, dst *redis.Client
	var srcID, dstID, dstAddr string
	var masters []*redis.Client
	for _, n := range cluster.Nodes {
		c, id := nodeFor(t, n.Addr)
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil || role[0] != "master" {
			continue
		}
		masters = append(masters, c)
		owner, _ := c.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", slot).Int64()
		switch {
		case owner > 0 && src == nil:
			src, srcID = c, id
		case dst == nil:
			dst, dstID, dstAddr = c, id, n.Addr
		}
	}
	if src == nil || dst == nil {
		t.Fatalf("slot %d: no source or destination master", slot)
	}
	host, port, _ := strings.Cut(dstAddr, ":")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("moving slot %d: %v", slot, err)
		}
	}
	must(dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	for {
		keys, err := src.Do(ctx, "CLUSTER", "GETKEYSINSLOT", slot, 10).StringSlice()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(src.Do(ctx, args...).Err())
	}
	for _, m := range masters {
		must(m.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
}

// failover promotes the replica of key's master (CLUSTER FAILOVER) and
// waits until it is master.
func failover(t *testing.T, client *redis.ClusterClient, cluster *redistest.Cluster, key string) {
	t.Helper()
	ctx := context.Background()
	m, err := client.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	_, masterID := nodeFor(t, m.Options().Addr)
	for _, n := range cluster.Nodes {
		c, _ := nodeFor(t, n.Addr)
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil || role[0] != "slave" {
			continue
		}
		info, _ := c.Do(ctx, "CLUSTER", "NODES").Text()
		if !strings.Contains(info, "myself,slave "+masterID) {
			continue
		}
		if err := c.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if role, err := c.Do(ctx, "ROLE").Slice(); err == nil && role[0] == "master" {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("replica %s did not become master", n.Addr)
	}
	t.Fatalf("no replica of %s", m.Options().Addr)
}

// TestClusterFailedDecisionChargesNothing: when one master of a decision
// does not answer in time (paused), the failure mode answers and the
// parts the other masters charged are refunded.
func TestClusterFailedDecisionChargesNothing(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	client := clusterClient(t, cluster)
	store := NewRedisStore(client, 300*time.Millisecond, nil, nil)
	k := keysOnDistinctMasters(t, client, "paused", "a", "b")
	rule := Rule{Algorithm: FixedWindow, Limit: 100, Period: time.Hour}
	charges := []Charge{{Key: k[0], Rule: rule, Hits: 1}, {Key: k[1], Rule: rule, Hits: 1}, {Key: k[2], Rule: rule, Hits: 1}}
	ctx := context.Background()
	if _, err := store.Apply(ctx, charges); err != nil { // scripts loaded, each key at 1
		t.Fatal(err)
	}
	paused, err := client.MasterForKey(ctx, clusterKey(k[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := paused.Do(ctx, "CLIENT", "PAUSE", 1500, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Apply(ctx, charges); err == nil {
		t.Fatal("a decision with a paused master succeeded")
	}
	store.(*clusterStore).refunds.Wait()
	for _, key := range k[1:] {
		if n := hashCount(t, client)(clusterKey(key)); n != 1 {
			t.Errorf("%s: charged %d times, want 1 (the failed decision refunded)", key, n)
		}
	}
}
