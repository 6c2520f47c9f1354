// Package xds compiles a validated policy into Envoy resources (listeners,
// route configurations, clusters and endpoints), versions them by content,
// and serves them to every Envoy over ADS through go-control-plane's
// snapshot cache. Each Envoy feature has its own translator file
// (listener.go, route.go, match.go, cluster.go, endpoint.go); translate.go
// ties them together for one node group.
package xds

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/tollgate/tollgate/policy"
)

// DefaultGroup is the node group of an Envoy that names no cluster
// (--service-cluster) in its node identity.
const DefaultGroup = "default"

// Options are translation settings that come from how Tollgate is deployed
// rather than from the policy: where Envoy reaches Tollgate's own gRPC
// services (ext_authz, rate limiting, access logs), by default the
// address `tollgate serve` listens on, or each service's own address
// when it is split out with `serve --only`. Each is host:port as served;
// tollgateEndpoint (grpccluster.go) is the one rule that turns it into
// the address Envoy dials: empty is DefaultGRPCAddress, and no host or a
// wildcard host (":18000", "0.0.0.0:18000", "[::]:18000") is loopback.
type Options struct {
	// AuthzAddress is host:port of Tollgate's ext_authz gRPC service.
	AuthzAddress string
	// RateLimitAddress is host:port of Tollgate's rate-limit gRPC service.
	RateLimitAddress string
	// AccessLogAddress is host:port of Tollgate's gRPC access-log service,
	// used when the policy says access_log: { grpc: true }.
	AccessLogAddress string
	// TLS says Tollgate serves these services over mutual TLS (`serve
	// --grpc-tls-cert`): Envoy reaches them with the client certificate
	// and CA of its bootstrap (TollgateClientCertSecret, TollgateCASecret).
	TLS bool
}

// Resources is the Envoy configuration of one node group. Every slice is
// sorted by resource name, so equal policies give equal Resources.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	// Endpoints holds one assignment per EDS cluster; clusters of DNS
	// services carry their endpoints inline instead.
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Secrets are the certificates, keys and CA bundles the listeners and
	// clusters refer to by name (SDS). They hold private keys: never log
	// or dump them.
	Secrets []*tlsv3.Secret
}

// Translate builds the resources served to the Envoys of a node group: the
// group's listeners, one route configuration per listener, and the clusters
// (with their endpoints) that those routes send traffic to. Services no
// route of the group uses are left out. Every resource is validated
// (validate.go): an invalid one is an error here, not a NACK from Envoy.
func Translate(p *policy.Policy, group string, opts Options) (*Resources, error) {
	res, err := translate(p, group, opts)
	if err != nil {
		return nil, err
	}
	if beforeValidate != nil {
		beforeValidate(res)
	}
	if err := res.validate(p); err != nil {
		return nil, err
	}
	return res, nil
}

// translate is Translate without the validation.
func translate(p *policy.Policy, group string, opts Options) (*Resources, error) {
	if p == nil {
		return nil, errors.New("xds: no policy to translate")
	}
	res := &Resources{}
	used := map[string]bool{}
	for _, l := range p.ListenersFor(group) {
		if err := res.addListener(p, l, used); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(used) {
		if err := res.addService(p.Services[name]); err != nil {
			return nil, err
		}
	}
	if err := res.addTollgateClusters(p, opts); err != nil {
		return nil, err
	}
	if err := res.addObservabilityClusters(p); err != nil {
		return nil, err
	}
	res.sort()
	return res, nil
}

// addListener adds a listener and its route configuration, and marks the
// services its routes use.
func (r *Resources) addListener(p *policy.Policy, l *policy.Listener, used map[string]bool) error {
	listener, err := buildListener(p, l)
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.Name, err)
	}
	routes := p.RoutesFor(l.Name)
	config, err := routeConfiguration(p, l, routes)
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.Name, err)
	}
	r.Listeners = append(r.Listeners, listener)
	r.Routes = append(r.Routes, config)
	r.Secrets = append(r.Secrets, listenerSecrets(l)...)
	if err := r.addHTTPRedirect(l); err != nil {
		return fmt.Errorf("listener %q: %w", l.Name, err)
	}
	for _, route := range routes {
		for _, d := range route.To {
			used[d.Service] = true
		}
		if route.Mirror != nil { // a service only mirrored to needs its cluster too
			used[route.Mirror.Service] = true
		}
	}
	return nil
}

// addService adds a service's cluster and, for EDS clusters, its endpoints.
func (r *Resources) addService(s *policy.Service) error {
	c, err := buildCluster(s)
	if err == nil {
		err = configureResilienceAndTLS(c, s)
	}
	if err != nil {
		return fmt.Errorf("service %q: %w", s.Name, err)
	}
	r.Secrets = append(r.Secrets, upstreamSecrets(s)...)
	r.Clusters = append(r.Clusters, c)
	if !s.UsesDNS() {
		r.Endpoints = append(r.Endpoints, loadAssignment(s))
	}
	return nil
}

// sort orders every resource type by name.
func (r *Resources) sort() {
	slices.SortFunc(r.Listeners, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(r.Routes, func(a, b *routev3.RouteConfiguration) int { return cmp.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(r.Clusters, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(r.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(a.GetClusterName(), b.GetClusterName())
	})
	slices.SortFunc(r.Secrets, func(a, b *tlsv3.Secret) int { return cmp.Compare(a.GetName(), b.GetName()) })
}

// adsSource says "fetch this over the ADS stream the Envoy already has";
// listeners use it for RDS and clusters for EDS.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// sortedKeys returns the keys of a set in sorted order.
func sortedKeys(set map[string]bool) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// addHTTPRedirect adds the plain-HTTP redirect listener of a TLS listener
// that asks for one.
func (r *Resources) addHTTPRedirect(l *policy.Listener) error {
	listener, routes, err := httpRedirect(l)
	if err != nil || listener == nil {
		return err
	}
	r.Listeners = append(r.Listeners, listener)
	r.Routes = append(r.Routes, routes)
	return nil
}
