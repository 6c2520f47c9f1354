package policy

import (
	"net/netip"
	"time"
)

// Policy is one validated generation of the gateway's configuration: every
// file of a policy directory merged, checked and defaulted. It holds no Envoy
// types; the xds translator, the authz engine and the rate limiter each
// compile it into what they need. A Policy is never mutated after Load
// returns it, so it may be shared between goroutines freely.
type Policy struct {
	// Version identifies the content the policy was built from; two loads of
	// the same files give the same version.
	Version string
	// Files are the files the policy was read from, in merge order.
	Files []string

	Listeners []*Listener
	// Services by name. Use ServiceNames for a deterministic order.
	Services map[string]*Service
	// Routes in evaluation order: files in lexical order, routes in file
	// order. The first route that matches a request wins.
	Routes []*Route
	// RateLimits by name; see ratelimit.go.
	RateLimits map[string]*RateLimit
	// Tiers by name: the limits of each plan.
	Tiers map[string]*Tier
	// RateLimitStore is where counters live; nil means in memory.
	RateLimitStore *RateLimitStore
	// AccessLog and Tracing are the observability settings; defaults
	// make them non-nil.
	AccessLog *AccessLog
	Tracing   *Tracing
	// Auth is the top-level auth section (credentials); nil when absent.
	Auth *Auth
	// ReloadGuard says which destructive edits are made on purpose; see
	// reloadguard.go. Defaults make it non-nil.
	ReloadGuard *ReloadGuard
	// RateLimitHeaders is the rate-limit header format; see ratelimitheaders.go. Defaults make it non-nil.
	RateLimitHeaders *RateLimitHeaders
	// LimitCalls says how protected routes' limits are asked; see onecall.go.
	LimitCalls *LimitCalls
	Rollout    *Rollout // rollout.go; nil: every Envoy gets a generation at once

	// reads are the files the policy was built from; see inputs.go.
	reads   *fileReads
	routing *routing // routing.go: built by Load for Decide
}

// Listener is a port Envoy accepts client traffic on.
type Listener struct {
	Source `yaml:"-"`

	Name    string `yaml:"name"`
	Address string `yaml:"address"` // default 0.0.0.0
	Port    int    `yaml:"port"`
	// Hosts are the host names (Envoy domains, "*" and "*.example.com"
	// wildcards allowed) this listener answers for. Default ["*"].
	Hosts []string `yaml:"hosts"`
	// Groups are the node groups (Envoy's --service-cluster) that receive
	// this listener. Empty means every group.
	Groups []string `yaml:"groups"`
	// TLS terminates TLS at the listener; nil serves plain HTTP.
	TLS *ListenerTLS `yaml:"tls"`
	// KeepClientHeaders lets these ClientHeaders through from clients.
	// Default none.
	KeepClientHeaders []string `yaml:"keep_client_headers"`
	// ClientAddress says how to find the client's address behind
	// proxies; nil means the connection's peer (clientaddress.go).
	ClientAddress *ClientAddress `yaml:"client_address"`
	// Compression holds the listener's response compression settings;
	// see compression.go. Defaults make it non-nil.
	Compression *Compression   `yaml:"compression"`
	Headers     *HeaderChanges `yaml:"headers"` // headers.go
	CORS        *CORS          `yaml:"cors"`    // cors.go
	// ClientIPs, RequestLimits: clientips.go, requestlimits.go.
	ClientIPs     *ClientIPs     `yaml:"client_ips"`
	RequestLimits *RequestLimits `yaml:"request_limits"`
}

// LoadBalancing names how a service spreads requests over its endpoints.
type LoadBalancing string

// The load-balancing policies a service may use.
const (
	RoundRobin   LoadBalancing = "round_robin"
	LeastRequest LoadBalancing = "least_request"
	Random       LoadBalancing = "random"
	RingHash     LoadBalancing = "ring_hash"
)

// Service is an upstream: a named set of endpoints and how to reach them.
type Service struct {
	Source `yaml:"-"`

	// Name is the key the service is declared under.
	Name string `yaml:"-"`

	Endpoints      []*Endpoint   `yaml:"endpoints"`
	LoadBalancing  LoadBalancing `yaml:"load_balancing"`  // default round_robin
	HashOn         *HashOn       `yaml:"hash_on"`         // ring_hash only, required there
	ConnectTimeout Duration      `yaml:"connect_timeout"` // default 2s

	CircuitBreaker   *CircuitBreaker   `yaml:"circuit_breaker"`
	OutlierDetection *OutlierDetection `yaml:"outlier_detection"`
	HealthCheck      *HealthCheck      `yaml:"health_check"`
	// Timeout is the default request timeout of routes to the service.
	Timeout     Duration     `yaml:"timeout"`
	RetryBudget *RetryBudget `yaml:"retry_budget"`
	TLS         *UpstreamTLS `yaml:"tls"`
	Protocol    Protocol     `yaml:"protocol"` // default http1
}

// UsesDNS reports whether any endpoint is a host name rather than an IP
// address, in which case Envoy resolves the names itself.
func (s *Service) UsesDNS() bool {
	for _, e := range s.Endpoints {
		if !e.IsIP() {
			return true
		}
	}
	return false
}

// Endpoint is one instance of a service. In YAML it is either "host:port"
// or {address: host:port, weight: N}.
type Endpoint struct {
	Source `yaml:"-"`

	Address string `yaml:"address"` // host:port as written
	Weight  int    `yaml:"weight"`  // default 1

	// Host and Port are split from Address during validation.
	Host string `yaml:"-"`
	Port int    `yaml:"-"`
}

// HashOn says what ring_hash load balancing hashes, so that the same
// client keeps reaching the same endpoint.
type HashOn struct {
	Source `yaml:"-"`

	Header   string `yaml:"header"`
	ClientIP bool   `yaml:"client_ip"`
}

// Route sends the requests it matches to one service or a weighted split.
type Route struct {
	Source `yaml:"-"`

	Name string `yaml:"name"`
	// Listeners the route is attached to; empty means every listener.
	Listeners []string `yaml:"listeners"`
	Match     Match    `yaml:"match"`
	// To is one service ("to: orders") or a weighted split
	// ("to: [{service: orders, weight: 90}, {service: orders-v2, weight: 10}]").
	To Destinations `yaml:"to"`

	// Timeout bounds the whole request, retries included; default the
	// largest timeout of the route's services, else 15s.
	Timeout Duration `yaml:"timeout"`
	// PerTryTimeout bounds each try when the route retries.
	PerTryTimeout Duration `yaml:"per_try_timeout"`
	// IdleTimeout ends a request whose stream stays silent this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	Retries     *Retries `yaml:"retries"`
	// RateLimits names the limits that apply to the route's requests.
	RateLimits []string `yaml:"rate_limits"`
	// Auth says who may call the route; see RouteAuth.
	Auth *RouteAuth `yaml:"auth"`
	// Mirror, Fault and Compression: see mirror.go, fault.go and
	// compression.go. Nil means none (compression: the listener's).
	Mirror      *Mirror      `yaml:"mirror"`
	Fault       *Fault       `yaml:"fault"`
	Compression *Compression `yaml:"compression"`
	// Upgrades, Rewrite, Redirect, Respond and Deprecation: see routeactions.go.
	Upgrades    []string        `yaml:"upgrades"`
	Rewrite     *Rewrite        `yaml:"rewrite"`
	Redirect    *Redirect       `yaml:"redirect"`
	Respond     *DirectResponse `yaml:"respond"`
	Deprecation *Deprecation    `yaml:"deprecation"`
	Headers     *HeaderChanges  `yaml:"headers"` // headers.go
	CORS        *CORS           `yaml:"cors"`    // cors.go
	// ClientIPs, RequestLimits: clientips.go, requestlimits.go.
	ClientIPs     *ClientIPs     `yaml:"client_ips"`
	RequestLimits *RequestLimits `yaml:"request_limits"`
}

// Match is every condition a request must meet for a route to apply. All
// given conditions must hold; an empty match matches every request.
type Match struct {
	Source `yaml:"-"`

	// At most one of the three path forms; the default is path_prefix "/".
	PathPrefix string `yaml:"path_prefix"`
	Path       string `yaml:"path"`
	PathRegex  string `yaml:"path_regex"` // RE2, matched against the whole path

	Hosts   []string      `yaml:"hosts"`
	Methods []string      `yaml:"methods"`
	Headers []*ValueMatch `yaml:"headers"`
	Query   []*ValueMatch `yaml:"query"`
}

// ValueMatch matches one header or query parameter by name: exactly one of
// Exact, Regex or Present is set.
type ValueMatch struct {
	Source `yaml:"-"`

	Name    string `yaml:"name"`
	Exact   string `yaml:"exact"`
	Regex   string `yaml:"regex"`
	Present *bool  `yaml:"present"`
}

// Destinations is where a route sends traffic.
type Destinations []*Destination

// Destination is one service of a route's split, with its share.
type Destination struct {
	Source `yaml:"-"`

	Service string `yaml:"service"`
	Weight  int    `yaml:"weight"` // required in a split of two or more
}

// Duration is a time.Duration written as a Go duration string ("250ms", "3s").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// IsIP reports whether the endpoint's host is an IP address literal.
func (e *Endpoint) IsIP() bool { _, err := netip.ParseAddr(e.Host); return err == nil }

func (s *Service) setName(name string) { s.Name = name }
