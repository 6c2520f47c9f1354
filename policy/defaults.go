package policy

import "time"

// The defaults a policy gets for fields it leaves out. docs/policy.md lists
// them too.
const (
	DefaultListenerAddress = "0.0.0.0"
	DefaultConnectTimeout  = 2 * time.Second
)

// applyDefaults fills what the author left out. It runs after validation,
// on a policy known to be valid.
func applyDefaults(p *Policy) {
	applyResilienceDefaults(p)
	applyLimitStageDefaults(p)
	applyReloadGuardDefaults(p)
	for _, l := range p.Listeners {
		if l.Address == "" {
			l.Address = DefaultListenerAddress
		}
		if len(l.Hosts) == 0 {
			l.Hosts = []string{"*"}
		}
	}
	for _, s := range p.Services {
		if s.LoadBalancing == "" {
			s.LoadBalancing = RoundRobin
		}
		if s.ConnectTimeout == 0 {
			s.ConnectTimeout = Duration(DefaultConnectTimeout)
		}
		for _, e := range s.Endpoints {
			if e.Weight == 0 {
				e.Weight = 1
			}
		}
	}
	for _, r := range p.Routes {
		m := &r.Match
		if m.PathPrefix == "" && m.Path == "" && m.PathRegex == "" {
			m.PathPrefix = "/"
		}
		if len(r.To) == 1 && r.To[0].Weight == 0 {
			r.To[0].Weight = 1
		}
	}
	applyRateLimitDefaults(p)
	applyObservabilityDefaults(p)
	applyAuthDefaults(p)
}
