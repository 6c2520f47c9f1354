package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverconfig "github.com/envoyproxy/go-control-plane/pkg/server/config"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/policy"
)

// Server serves Envoy its configuration over ADS, state-of-the-world and
// delta alike. It translates one snapshot per node group (the Envoy node's
// cluster, see DefaultGroup) and generation: a group is discovered when its
// first Envoy asks, and every group seen so far is rebuilt on Update. The
// cache holds one entry per Envoy (proxyHash), pointing at its group's
// snapshot of the generation the rollout gives it (rollout.go).
type Server struct {
	opts    Options
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	shared  *sharedResponses // the innermost layer of cache
	xds     serverv3.Server
	metrics *metrics

	// reload serializes Prepare, its commits and Update, so that
	// translation, the slow part of a reload, runs without holding mu.
	reload sync.Mutex

	// mu guards every field below. go-control-plane calls the stream
	// callbacks on each stream's own goroutine, concurrently with one
	// another and with Update and Proxies.
	//
	// Snapshots are set while holding mu, so that a group discovered by a
	// stream and a concurrent Update cannot set them out of order. That
	// cannot deadlock on a stream blocked on mu: the cache hands responses
	// to a stream through a channel with room for every resource type.
	mu      sync.Mutex
	current built                        // the newest policy and its snapshots; zero before the first Update
	groups  map[string]*cachev3.Snapshot // every group seen, with its snapshot of current; nil until it has one
	rollout rollout                      // which Envoys get current, which the last generation rolled out (rollout.go)
	streams map[streamKey]*streamState   // open ADS streams
	proxies map[string]*proxyState       // connected Envoys by node id

	// resumed hands resumed requests from the callbacks to the cache (see
	// resumeStreams); a sync.Map, since it is read outside mu.
	resumed sync.Map
	// stats are the Envoys' stats reports, for the rollout (rolloutstats.go).
	stats *proxyStats
}

// built is a policy with the snapshots translated from it, by group.
type built struct {
	policy    *policy.Policy
	snapshots map[string]*cachev3.Snapshot
}

// NewServer returns a server with no policy yet: Envoys that connect
// before the first Update wait for it. Metrics are registered with reg
// unless it is nil. When ctx ends, every open stream ends, so that a
// shutting-down Tollgate does not wait on streams Envoy never closes.
func NewServer(ctx context.Context, logger *slog.Logger, reg prometheus.Registerer, opts Options) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:    opts,
		log:     logger,
		metrics: newMetrics(reg),
		groups:  map[string]*cachev3.Snapshot{},
		streams: map[streamKey]*streamState{},
		proxies: map[string]*proxyState{},
		stats:   newProxyStats(),
	}
	s.metrics.setRolloutState(RolloutIdle)
	// Shared so that a response is marshalled once per group, not per Envoy.
	//
	// Not in the cache's ADS mode (ads false): in it, go-control-plane
	// v0.14.0 answers a request naming resources only if it names every
	// resource of the type in the snapshot (superset in
	// pkg/cache/v3/simple.go). An Envoy that rejected one listener asks
	// only for the other listeners' route configurations, and would get
	// none of them: those listeners answered 404 (TestServerAnswersASubsetOfRoutes;
	// TestSnapshotCacheADSModeAnswersOnlyEveryName fails once an upgrade
	// changes this).
	// The mode's other effect, ordering the responses of one snapshot,
	// does not reach Envoy without the server's ordered ADS, which Tollgate
	// does not use: Envoy orders clusters before listeners itself, and
	// every snapshot is consistent.
	s.shared = newSharedResponses(cachev3.NewSnapshotCache(false, proxyHash{}, cacheLog{logger}), proxyHash{})
	// Outermost, so that every request OnStreamRequest marked as resumed
	// reaches it and is forgotten.
	s.cache = resumeStreams{SnapshotCache: &retryRejected{SnapshotCache: skipUnsubscribed{s.shared}, delay: s.retryDelay}, resumed: &s.resumed}
	s.xds = serverv3.NewServer(ctx, s.cache, callbacks{s}, serverconfig.DeactivateLegacyWildcardForTypes(namedTypes))
	go s.watchRollout(ctx)
	return s
}

// Register adds the aggregated discovery service, and the metrics service
// Envoy streams its stats to (for rollouts), to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	metricsv3.RegisterMetricsServiceServer(g, statSink{stats: s.stats})
}

// Prepare translates p for every group seen so far and every group its
// listeners name, without serving anything, and returns the function that
// serves it: the two halves of a reload that must succeed everywhere before
// any part of it is applied. What Prepare built lives only in the returned
// function, so that a reload another component refuses leaves nothing of
// it behind (a kept translation held a refused 20,000-route policy's
// snapshots until the next reload).
func (s *Server) Prepare(p *policy.Policy) (commit func() error, err error) {
	s.reload.Lock()
	defer s.reload.Unlock()
	b, err := s.build(p)
	if err != nil {
		return nil, err
	}
	return func() error {
		s.reload.Lock()
		defer s.reload.Unlock()
		return s.apply(b)
	}, nil
}

// Check reports whether p translates for every group, as Prepare does,
// serving nothing and keeping nothing.
func (s *Server) Check(p *policy.Policy) error {
	_, err := s.Prepare(p)
	return err
}

// Update translates p for every group seen so far (and every group its
// listeners name) and serves the new snapshots. If any group fails to
// translate, nothing changes: the previous snapshots keep serving and the
// error is returned.
func (s *Server) Update(p *policy.Policy) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	b, err := s.build(p)
	if err != nil {
		return err
	}
	return s.apply(b)
}

// apply serves what build built. Callers hold reload.
func (s *Server) apply(b built) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = b
	s.metrics.setPolicyVersion(b.policy.Version)
	s.beginRollout(time.Now())
	var errs []error
	for _, g := range sortedGroups(s.groups) {
		errs = append(errs, s.serve(g))
	}
	return errors.Join(errs...)
}

// build translates p for every group seen so far and every group its
// listeners name. Callers hold reload, not mu.
func (s *Server) build(p *policy.Policy) (built, error) {
	if p == nil {
		return built{}, errors.New("xds: no policy")
	}
	b := built{policy: p, snapshots: map[string]*cachev3.Snapshot{}}
	for _, g := range s.candidateGroups(p) {
		snap, err := Snapshot(p, g, s.opts)
		if err != nil {
			s.metrics.translationErrors.Inc()
			return built{}, fmt.Errorf("translating policy %s for node group %q: %w", p.Version, g, err)
		}
		b.snapshots[g] = snap
	}
	return b, nil
}

// candidateGroups are the groups seen so far, the default group and every
// group p's listeners name, sorted. Translating for all of them means a
// policy that would fail for an Envoy yet to connect is refused now.
func (s *Server) candidateGroups(p *policy.Policy) []string {
	s.mu.Lock()
	groups := sortedGroups(s.groups)
	s.mu.Unlock()
	groups = append(groups, DefaultGroup)
	for _, l := range p.Listeners {
		groups = append(groups, l.Groups...)
	}
	slices.Sort(groups)
	return slices.Compact(groups)
}

// discoverGroup starts serving a group the first time one of its Envoys
// asks. Callers hold mu.
func (s *Server) discoverGroup(group string) {
	if _, seen := s.groups[group]; seen {
		return
	}
	s.groups[group] = nil
	s.log.Info("new node group", "group", group)
	if err := s.serve(group); err != nil {
		s.log.Error("serving a new node group", "group", group, "err", err)
	}
}

// serve translates the current policy for a group if the group is new to
// it, and serves every Envoy of the group what the rollout gives it.
// Callers hold mu.
func (s *Server) serve(group string) error {
	if s.current.policy == nil {
		return nil // no policy yet: the group's Envoys wait for the first Update
	}
	snap, err := s.snapshotOf(&s.current, group)
	if err != nil {
		return err // the group's Envoys keep what they have; the next Update tries again
	}
	if !sameVersions(s.groups[group], snap) {
		s.groups[group] = snap
		s.metrics.pushes.WithLabelValues(group).Inc()
		s.log.Info("pushed configuration", "group", group,
			"listeners", snap.GetVersion(resourcev3.ListenerType),
			"routes", snap.GetVersion(resourcev3.RouteType),
			"clusters", snap.GetVersion(resourcev3.ClusterType),
			"endpoints", snap.GetVersion(resourcev3.EndpointType),
			"secrets", snap.GetVersion(resourcev3.SecretType))
	}
	var errs []error
	for _, id := range s.proxyIDs() {
		if p := s.proxies[id]; p.group == group {
			errs = append(errs, s.serveProxy(id, p))
		}
	}
	return errors.Join(errs...)
}

// snapshotOf is b's snapshot for a group, translated on first use.
// Callers hold mu.
func (s *Server) snapshotOf(b *built, group string) (*cachev3.Snapshot, error) {
	if snap := b.snapshots[group]; snap != nil {
		return snap, nil
	}
	snap, err := Snapshot(b.policy, group, s.opts)
	if err != nil {
		s.metrics.translationErrors.Inc()
		return nil, fmt.Errorf("translating policy %s for node group %q: %w", b.policy.Version, group, err)
	}
	b.snapshots[group] = snap
	return snap, nil
}

// serveProxy sets one Envoy's snapshot to its group's snapshot of the
// generation the rollout gives it, unless every type's version is
// unchanged. Callers hold mu.
func (s *Server) serveProxy(id string, p *proxyState) error {
	b := s.generationFor(id, p)
	if b.policy == nil {
		return nil
	}
	snap, err := s.snapshotOf(b, p.group)
	if err != nil {
		return err
	}
	if sameVersions(p.served, snap) {
		p.generation = b.policy.Version
		return nil
	}
	if err := s.cache.SetSnapshot(context.Background(), p.key, snap); err != nil {
		return fmt.Errorf("setting snapshot for %q of group %q: %w", id, p.group, err)
	}
	s.markPushed(p, p.served, snap)
	p.served, p.generation, p.servedAt = snap, b.policy.Version, time.Now()
	return nil
}

// proxyIDs are the connected Envoys' node ids, sorted. Callers hold mu.
func (s *Server) proxyIDs() []string {
	ids := make([]string, 0, len(s.proxies))
	for id := range s.proxies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// servedTypes are the resource types a snapshot carries.
var servedTypes = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// sameVersions reports whether two snapshots carry the same version of
// every served type; a nil old snapshot is never the same.
func sameVersions(old, next *cachev3.Snapshot) bool {
	if old == nil {
		return false
	}
	for _, t := range servedTypes {
		if old.GetVersion(t) != next.GetVersion(t) {
			return false
		}
	}
	return true
}

// sortedGroups returns the group names in sorted order.
func sortedGroups(groups map[string]*cachev3.Snapshot) []string {
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	return names
}

// groupHash keys a cache by node group (go-control-plane's tests of
// upstream behaviour use it).
type groupHash struct{}

var _ cachev3.NodeHash = groupHash{}

// ID returns the node's group.
func (groupHash) ID(node *corev3.Node) string { return groupOf(node) }

// proxyHash keys the snapshot cache by Envoy: its group and node id. A
// rollout serves the Envoys of one group different generations (a percent
// stage takes some of them), so each needs its own entry; the entries of
// a group's Envoys on one generation point to one snapshot, and share
// what is marshalled from it (sharedResponses keys its memo by group).
//
// Why not one entry per stage or generation: go-control-plane v0.14.0
// keeps an open watch under the key the node hashed to when it was opened
// (snapshotCache.CreateWatch, pkg/cache/v3/simple.go) and answers it only
// when that key's snapshot changes, so an Envoy whose key changed while
// its watch was open would wait on a key no longer set. An Envoy's key
// must stay the same for as long as it is connected.
type proxyHash struct{}

var _ cachev3.NodeHash = proxyHash{}

// ID returns the node's key.
func (proxyHash) ID(node *corev3.Node) string { return proxyKey(groupOf(node), node.GetId()) }

// proxyKey is an Envoy's cache key; keyGroup reads the group back.
func proxyKey(group, id string) string { return group + "\x00" + id }

// keyGroup is the group of a cache key made by proxyKey, or the key itself
// (a cache keyed by groupHash).
func keyGroup(key string) string {
	group, _, _ := strings.Cut(key, "\x00")
	return group
}

// groupOf is an Envoy's node group: its --service-cluster, or DefaultGroup.
func groupOf(node *corev3.Node) string {
	if c := node.GetCluster(); c != "" {
		return c
	}
	return DefaultGroup
}

// cacheLog sends go-control-plane's log lines to slog. Its informational
// lines are routine protocol chatter, so they go to Debug.
type cacheLog struct{ l *slog.Logger }

// Debugf, Infof, Warnf and Errorf implement go-control-plane's log.Logger.
func (c cacheLog) Debugf(format string, args ...any) { c.logf(slog.LevelDebug, format, args) }
func (c cacheLog) Infof(format string, args ...any)  { c.logf(slog.LevelDebug, format, args) }
func (c cacheLog) Warnf(format string, args ...any)  { c.logf(slog.LevelWarn, format, args) }
func (c cacheLog) Errorf(format string, args ...any) { c.logf(slog.LevelError, format, args) }

// logf formats only when slog would keep the line.
func (c cacheLog) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if c.l.Enabled(ctx, level) {
		c.l.Log(ctx, level, fmt.Sprintf(format, args...), "component", "go-control-plane")
	}
}
