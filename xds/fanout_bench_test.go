package xds

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/internal/testenv"
	"github.com/tollgate/tollgate/policy"
)

// The fan-out harness: many simulated Envoys, each on its own gRPC
// connection over loopback (as real Envoys are), each subscribing over ADS
// to clusters, endpoints, listeners and routes in Envoy's order and ACKing
// every response. One goroutine per stream reads, ACKs from the same
// goroutine with request messages reused per type, and counts responses by
// type in atomics; nothing else runs per client, so that the figures are
// Tollgate's and go-control-plane's, not the harness's.

// fanoutGroups are the node groups the simulated Envoys are spread over.
var fanoutGroups = []string{"g0", "g1"}

// fanoutPolicy has one listener per fanout group and 200 routes over 50
// services (three endpoints each) attached to every listener. Route 0's
// path prefix carries rev, so two revs differ by one route, in every
// group's route configuration and nowhere else.
func fanoutPolicy(tb testing.TB, rev int) *policy.Policy {
	tb.Helper()
	var listeners, services, routes strings.Builder
	for i, g := range fanoutGroups {
		fmt.Fprintf(&listeners, "  - { name: http-%s, address: 127.0.0.1, port: %d, groups: [%s] }\n", g, 8080+i, g)
	}
	for s := range 50 {
		name := fmt.Sprintf("svc-%02d", s)
		services.WriteString(ipServiceYAML(name, 10000+s, 20000+s, 30000+s))
		for r := range 4 {
			prefix := fmt.Sprintf("/%s/r%d", name, r)
			if s == 0 && r == 0 {
				prefix = fmt.Sprintf("/svc-00/r0/rev%d", rev)
			}
			routes.WriteString(prefixRouteYAML(fmt.Sprintf("%s-r%d", name, r), prefix, name, ""))
		}
	}
	return policytest.Load(tb, "listeners:\n"+listeners.String()+"services:\n"+services.String()+"routes:\n"+routes.String())
}

// largeFanoutPolicy is largePolicy (10,000 routes in a 1.1 MB route
// configuration, 1,000 services) served to every fanout group, with rev in
// route 0's path prefix as in fanoutPolicy.
func largeFanoutPolicy(tb testing.TB, rev int) *policy.Policy {
	tb.Helper()
	return policytest.Load(tb, largePolicyYAML(fmt.Sprintf("/svc-0000/r0/rev%d", rev)))
}

// Indexes of the subscribed types, in the order Envoy subscribes over ADS.
const (
	fanCluster = iota
	fanEndpoint
	fanListener
	fanRoute
	fanTypes
)

var fanTypeURLs = [fanTypes]string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}

func fanTypeIndex(typeURL string) int {
	for i, t := range fanTypeURLs {
		if t == typeURL {
			return i
		}
	}
	return -1
}

// fanoutSubscription is what an Envoy of a group asks for by name: the
// endpoints of its EDS clusters and the route configurations its listeners
// name.
type fanoutSubscription struct {
	endpoints, routes []string
}

// fanoutRound is one update being waited for: remaining counts the
// clients that have yet to ACK a new route version.
type fanoutRound struct {
	remaining atomic.Int64
	done      chan struct{}
}

// fanoutClient is one simulated Envoy. Its counters are written by its
// reader goroutine and read by the benchmark, hence atomics.
type fanoutClient struct {
	group string
	// joined is how many updates the fleet had had when it connected.
	joined int
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	// responses counts the responses received, by type index.
	responses [fanTypes]atomic.Int64
	// other counts responses of a type the client did not subscribe to.
	other atomic.Int64
	// route is the route version last received (and ACKed).
	route atomic.Pointer[string]
	// ready is closed once every type has been received and ACKed once.
	ready chan struct{}
}

// fanoutFleet is a Tollgate server on loopback and its simulated Envoys.
type fanoutFleet struct {
	server  *Server
	policy  func(tb testing.TB, rev int) *policy.Policy // the policy served at each rev
	reg     *prometheus.Registry
	logs    *testenv.Buffer
	addr    string
	delta   bool
	subs    map[string]fanoutSubscription
	clients []*fanoutClient
	round   atomic.Pointer[fanoutRound]
	updates int // updates since the clients connected, each awaited
	rev     int
}

// startFanoutFleet starts a server serving pol(0), with no client yet.
// Everything stops in tb's cleanup.
func startFanoutFleet(tb testing.TB, delta bool, pol func(tb testing.TB, rev int) *policy.Policy) *fanoutFleet {
	tb.Helper()
	f := &fanoutFleet{policy: pol, reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}, delta: delta, subs: map[string]fanoutSubscription{}}
	// Warnings and errors only: a NACK or a failed push shows here.
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	f.server = NewServer(ctx, logger, f.reg, Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	f.server.Register(g)
	go func() { _ = g.Serve(lis) }()
	f.addr = lis.Addr().String()
	tb.Cleanup(func() {
		f.stopClients()
		cancel()
		g.Stop()
	})

	p := pol(tb, 0)
	if err := f.server.Update(p); err != nil {
		tb.Fatal(err)
	}
	for _, group := range fanoutGroups {
		res, err := Translate(p, group, Options{})
		if err != nil {
			tb.Fatal(err)
		}
		var sub fanoutSubscription
		for _, e := range res.Endpoints {
			sub.endpoints = append(sub.endpoints, e.GetClusterName())
		}
		for _, r := range res.Routes {
			sub.routes = append(sub.routes, r.GetName())
		}
		f.subs[group] = sub
	}
	return f
}

// connect connects n clients, spread evenly over the groups, at most 32 at
// a time, and waits until each has received and ACKed every type.
func (f *fanoutFleet) connect(tb testing.TB, n int) {
	tb.Helper()
	first := len(f.clients)
	for i := range n {
		f.clients = append(f.clients, &fanoutClient{group: fanoutGroups[i%len(fanoutGroups)], joined: f.updates, ready: make(chan struct{})})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i, c := range f.clients[first:] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.start(c, fmt.Sprintf("envoy-%d", first+i)); err != nil {
				errs <- err
				return
			}
			select {
			case <-c.ready:
			case <-time.After(time.Minute):
				errs <- fmt.Errorf("envoy-%d: not configured after a minute", first+i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// start dials one client and starts its reader goroutine.
func (f *fanoutFleet) start(c *fanoutClient, id string) error {
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.conn, c.cancel = conn, cancel
	node := &corev3.Node{Id: id, Cluster: c.group}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	sub := f.subs[c.group]
	if f.delta {
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		go f.readDelta(c, stream, node, sub)
		return nil
	}
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	go f.readSotW(c, stream, node, sub)
	return nil
}

// readSotW subscribes a state-of-the-world client to each type in turn,
// then ACKs every response, naming the resources it wants as Envoy does.
func (f *fanoutFleet) readSotW(c *fanoutClient, stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse], node *corev3.Node, sub fanoutSubscription) {
	var reqs [fanTypes]*discoveryv3.DiscoveryRequest
	for i, t := range fanTypeURLs {
		reqs[i] = &discoveryv3.DiscoveryRequest{TypeUrl: t}
	}
	reqs[fanEndpoint].ResourceNames = sub.endpoints
	reqs[fanRoute].ResourceNames = sub.routes
	reqs[fanCluster].Node = node
	if stream.Send(reqs[fanCluster]) != nil {
		return
	}
	reqs[fanCluster].Node = nil
	resp := &discoveryv3.DiscoveryResponse{}
	for {
		if stream.RecvMsg(resp) != nil {
			return
		}
		i := fanTypeIndex(resp.GetTypeUrl())
		if i < 0 {
			c.other.Add(1)
			continue
		}
		req := reqs[i]
		req.VersionInfo, req.ResponseNonce = resp.GetVersionInfo(), resp.GetNonce()
		if stream.Send(req) != nil {
			return
		}
		if !f.received(c, i, resp.GetVersionInfo()) {
			continue
		}
		// The first response of a type: subscribe to the next one.
		if stream.Send(reqs[i+1]) != nil {
			return
		}
	}
}

// readDelta is readSotW for the incremental protocol: a subscription names
// what it adds, and an ACK only the nonce it accepts.
func (f *fanoutFleet) readDelta(c *fanoutClient, stream grpc.BidiStreamingClient[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse], node *corev3.Node, sub fanoutSubscription) {
	var subscribe, acks [fanTypes]*discoveryv3.DeltaDiscoveryRequest
	for i, t := range fanTypeURLs {
		subscribe[i] = &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}
		acks[i] = &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}
	}
	subscribe[fanEndpoint].ResourceNamesSubscribe = sub.endpoints
	subscribe[fanRoute].ResourceNamesSubscribe = sub.routes
	subscribe[fanCluster].Node = node
	if stream.Send(subscribe[fanCluster]) != nil {
		return
	}
	resp := &discoveryv3.DeltaDiscoveryResponse{}
	for {
		if stream.RecvMsg(resp) != nil {
			return
		}
		i := fanTypeIndex(resp.GetTypeUrl())
		if i < 0 {
			c.other.Add(1)
			continue
		}
		acks[i].ResponseNonce = resp.GetNonce()
		if stream.Send(acks[i]) != nil {
			return
		}
		if !f.received(c, i, resp.GetSystemVersionInfo()) {
			continue
		}
		if stream.Send(subscribe[i+1]) != nil {
			return
		}
	}
}

// received counts an ACKed response of type i carrying version. It reports
// whether the client should now subscribe to the next type: only on the
// first response of a type before routes.
func (f *fanoutFleet) received(c *fanoutClient, i int, version string) (subscribeNext bool) {
	n := c.responses[i].Add(1)
	if i == fanRoute {
		c.route.Store(&version)
		if n == 1 {
			close(c.ready)
		} else if r := f.round.Load(); r != nil && r.remaining.Add(-1) == 0 {
			close(r.done)
		}
	}
	return n == 1 && i < fanRoute
}

// update serves the next rev of the fleet's policy and waits until every client
// has received and ACKed the new route version and the server has
// recorded every ACK. It returns how long that took.
func (f *fanoutFleet) update(tb testing.TB) time.Duration {
	tb.Helper()
	f.rev++
	p := f.policy(tb, f.rev)
	acked := f.routeACKs(tb)
	r := &fanoutRound{done: make(chan struct{})}
	r.remaining.Store(int64(len(f.clients)))
	f.round.Store(r)

	start := time.Now()
	if err := f.server.Update(p); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(time.Minute):
		tb.Fatalf("%d of %d clients got no new route version within a minute", r.remaining.Load(), len(f.clients))
	}
	// The clients have sent their ACKs; wait for the server to have
	// processed them (it observes a push latency for each).
	want := acked + uint64(len(f.clients))
	for deadline := time.Now().Add(time.Minute); f.routeACKs(tb) < want; {
		if time.Now().After(deadline) {
			tb.Fatalf("server recorded %d route ACKs, want %d", f.routeACKs(tb), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	f.updates++
	f.verify(tb)
	return elapsed
}

// routeACKs is how many route ACKs of a pushed version the server has
// recorded: the sample count of its push latency histogram for routes.
func (f *fanoutFleet) routeACKs(tb testing.TB) uint64 {
	tb.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != "tollgate_xds_push_duration_seconds" {
			continue
		}
		for _, m := range fam.GetMetric() {
			if m.GetLabel()[0].GetValue() == resourcev3.RouteType {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// verify checks that every client holds its group's current route version,
// received exactly one route response per update since it connected and
// nothing else since it subscribed, and that the server logged no warning (a NACK).
func (f *fanoutFleet) verify(tb testing.TB) {
	tb.Helper()
	want := map[string]string{}
	for _, g := range fanoutGroups {
		snap := f.server.groupSnapshot(g)
		if snap == nil {
			tb.Fatalf("no snapshot for group %s", g)
		}
		want[g] = snap.GetVersion(resourcev3.RouteType)
	}
	for i, c := range f.clients {
		if got := *c.route.Load(); got != want[c.group] {
			tb.Fatalf("envoy-%d (group %s) holds route version %s, want %s", i, c.group, got, want[c.group])
		}
		for t, typeURL := range fanTypeURLs {
			wantN := int64(1)
			if t == fanRoute {
				wantN += int64(f.updates - c.joined)
			}
			if n := c.responses[t].Load(); n != wantN {
				tb.Fatalf("envoy-%d got %d %s responses after %d route changes, want %d: only routes changed",
					i, n, typeURL, f.updates-c.joined, wantN)
			}
		}
		if n := c.other.Load(); n != 0 {
			tb.Fatalf("envoy-%d got %d responses of types it did not subscribe to", i, n)
		}
	}
	if logs := f.logs.String(); logs != "" {
		tb.Fatalf("server warned:\n%s", logs)
	}
}

// stopClients ends every client's stream and connection.
func (f *fanoutFleet) stopClients() {
	for _, c := range f.clients {
		if c.cancel != nil {
			c.cancel()
		}
		if c.conn != nil {
			c.conn.Close()
		}
	}
}

// liveBytes is the heap in use by live objects plus goroutine stacks,
// after two collections.
func liveBytes() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// fanoutBaselineUpdates is how many updates measure the 10-client
// baseline of a 1,000-client sub-benchmark.
const fanoutBaselineUpdates = 20

// BenchmarkFanout measures how long a one-route change takes to reach
// every connected Envoy and be ACKed by it, with 10 and with 1,000
// simulated Envoys over two node groups, and (state of the world and delta)
// with 100 and 1,000 Envoys served a 10,000-route policy. A sub-benchmark
// of more than 10 clients first measures the same server with its first
// 10 clients only, and reports its own time as a ratio to that baseline.
// It fails if any client is sent anything but the changed routes.
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		name    string
		delta   bool
		clients int
		policy  func(tb testing.TB, rev int) *policy.Policy
	}{
		{"sotw/10", false, 10, fanoutPolicy},
		{"sotw/1000", false, 1000, fanoutPolicy},
		{"delta/10", true, 10, fanoutPolicy},
		{"delta/1000", true, 1000, fanoutPolicy},
		{"sotw-10k-routes/100", false, 100, largeFanoutPolicy},
		{"sotw-10k-routes/1000", false, 1000, largeFanoutPolicy},
		{"delta-10k-routes/100", true, 100, largeFanoutPolicy},
		{"delta-10k-routes/1000", true, 1000, largeFanoutPolicy},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := startFanoutFleet(b, bc.delta, bc.policy)
			const baseClients = 10
			before := liveBytes()
			f.connect(b, baseClients)
			var baseTime time.Duration
			if bc.clients > baseClients {
				f.update(b) // warm-up
				for range fanoutBaselineUpdates {
					baseTime += f.update(b)
				}
				before = liveBytes()
				f.connect(b, bc.clients-baseClients)
			}
			after := liveBytes()
			connected := bc.clients
			if bc.clients > baseClients {
				connected -= baseClients
			}

			f.update(b) // warm-up
			var total time.Duration
			n := 0
			for b.Loop() {
				total += f.update(b)
				n++
			}
			perUpdate := float64(total.Microseconds()) / 1e3 / float64(n)
			b.ReportMetric(perUpdate, "ms/update")
			if baseTime > 0 {
				basePerUpdate := float64(baseTime.Microseconds()) / 1e3 / fanoutBaselineUpdates
				b.ReportMetric(perUpdate/basePerUpdate, "x-baseline")
			}
			b.ReportMetric(float64(int64(after)-int64(before))/float64(connected), "B/client")

			// Nothing arrives late: no client is sent anything more.
			time.Sleep(200 * time.Millisecond)
			f.verify(b)
		})
	}
}

// TestFanoutConverges connects 50 Envoys over two node groups, once state
// of the world and once delta, changes one route, and checks
// that every one of them receives and ACKs its group's new route version,
// that nothing else is sent, and that the server knows every ACK.
func TestFanoutConverges(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			f := startFanoutFleet(t, delta, fanoutPolicy)
			f.connect(t, 50)
			before := map[string]string{}
			for _, c := range f.clients {
				before[c.group] = *c.route.Load()
			}
			f.update(t)
			time.Sleep(100 * time.Millisecond)
			f.verify(t)

			seen := map[string]string{}
			for i, c := range f.clients {
				v := *c.route.Load()
				if v == before[c.group] {
					t.Errorf("envoy-%d still holds route version %s", i, v)
				}
				if w, ok := seen[c.group]; ok && w != v {
					t.Errorf("envoy-%d holds route version %s, another of group %s holds %s", i, v, c.group, w)
				}
				seen[c.group] = v
			}
			for _, p := range f.server.Proxies() {
				if got := p.Acked[resourcev3.RouteType]; got != seen[p.Group] {
					t.Errorf("server records %s ACKed route version %s, want %s", p.NodeID, got, seen[p.Group])
				}
			}
			if got := len(f.server.Proxies()); got != 50 {
				t.Errorf("server lists %d proxies, want 50", got)
			}
		})
	}
}
