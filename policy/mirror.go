package policy

// Mirror copies a share of a route's requests to another service, as
// traffic to try a new version on without its answers reaching anyone:
// Envoy sends the copy after authentication and rate limiting, and drops
// its response. The copy is made by Envoy's router, past every HTTP
// filter, so it is never authorized or counted against a limit again.
type Mirror struct {
	Source `yaml:"-"`

	// Service receives the copies; it must be a declared service.
	Service string `yaml:"service"`
	// Percent of the route's requests copied, from 0 to 100 (at most four
	// decimals count). Default DefaultMirrorPercent.
	Percent float64 `yaml:"percent"`
}
