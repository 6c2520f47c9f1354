package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverconfig "github.com/envoyproxy/go-control-plane/pkg/server/config"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/policy"
)

// Server serves Envoy its configuration over ADS, state-of-the-world and
// delta alike. It keeps one snapshot per node group (the Envoy node's
// cluster, see DefaultGroup): a group is discovered when its first Envoy
// asks, and every group seen so far is rebuilt on Update.
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
	current built                        // the policy being served and its snapshots; zero before the first Update
	groups  map[string]*cachev3.Snapshot // every group seen; nil until it has a snapshot
	streams map[streamKey]*streamState   // open ADS streams
	proxies map[string]*proxyState       // connected Envoys by node id

	// resumed hands resumed requests from the callbacks to the cache (see
	// resumeStreams); a sync.Map, since it is read outside mu.
	resumed sync.Map
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
	}
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
	s.shared = newSharedResponses(cachev3.NewSnapshotCache(false, groupHash{}, cacheLog{logger}), groupHash{})
	// Outermost, so that every request OnStreamRequest marked as resumed
	// reaches it and is forgotten.
	s.cache = resumeStreams{SnapshotCache: &retryRejected{SnapshotCache: skipUnsubscribed{s.shared}, delay: s.retryDelay}, resumed: &s.resumed}
	s.xds = serverv3.NewServer(ctx, s.cache, callbacks{s}, serverconfig.DeactivateLegacyWildcardForTypes(namedTypes))
	return s
}

// Register adds the aggregated discovery service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
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

// serve sets a group's snapshot from the current policy, translating it
// if the group is new to that policy. Callers hold mu.
func (s *Server) serve(group string) error {
	p := s.current.policy
	if p == nil {
		return nil // no policy yet: the group's Envoys wait for the first Update
	}
	snap := s.current.snapshots[group]
	if snap == nil {
		var err error
		if snap, err = Snapshot(p, group, s.opts); err != nil {
			// The group's Envoys wait; the next Update tries again.
			s.metrics.translationErrors.Inc()
			return fmt.Errorf("translating policy %s for node group %q: %w", p.Version, group, err)
		}
		s.current.snapshots[group] = snap
	}
	return s.push(group, snap)
}

// push sets a group's snapshot unless every type's version is unchanged.
// Callers hold mu.
func (s *Server) push(group string, snap *cachev3.Snapshot) error {
	if sameVersions(s.groups[group], snap) {
		return nil
	}
	if err := s.cache.SetSnapshot(context.Background(), group, snap); err != nil {
		return fmt.Errorf("setting snapshot for group %q: %w", group, err)
	}
	s.markPushed(group, s.groups[group], snap)
	s.groups[group] = snap
	s.metrics.pushes.WithLabelValues(group).Inc()
	s.log.Info("pushed configuration", "group", group,
		"listeners", snap.GetVersion(resourcev3.ListenerType),
		"routes", snap.GetVersion(resourcev3.RouteType),
		"clusters", snap.GetVersion(resourcev3.ClusterType),
		"endpoints", snap.GetVersion(resourcev3.EndpointType),
		"secrets", snap.GetVersion(resourcev3.SecretType))
	return nil
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

// groupHash keys the snapshot cache by node group, so that every Envoy of
// a group shares one snapshot.
type groupHash struct{}

var _ cachev3.NodeHash = groupHash{}

// ID returns the node's group.
func (groupHash) ID(node *corev3.Node) string { return groupOf(node) }

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
