package policy

// LimitStage says where in Envoy's filter chain a rate limit is checked:
// before or after authentication.
//
// Envoy runs ext_authz before rate limiting, so a request authentication
// refuses (401) never reaches an after_auth limit: a flood of bad keys or
// anonymous calls to a protected route costs one authz call each and no
// limit stops it. A before_auth limit is checked first, by a second
// rate-limit filter placed ahead of ext_authz, so it stops such a flood
// before it reaches the authz service. It can only count by what is known
// before authentication (client_ip, route, header:NAME) and cannot depend
// on who the caller is; it counts every request that reaches it, refused
// later or not.
type LimitStage string

// The stages a limit may be checked at.
const (
	// StageAfterAuth, the default, checks the limit after ext_authz, so it
	// may key on and be conditioned by the identity authz established.
	StageAfterAuth LimitStage = "after_auth"
	// StageBeforeAuth checks the limit before ext_authz.
	StageBeforeAuth LimitStage = "before_auth"
)

// BeforeAuth reports whether the limit is checked before authentication.
func (r *RateLimit) BeforeAuth() bool { return r.Stage == StageBeforeAuth }

// UsesBeforeAuthLimits reports whether any of the routes names a
// before_auth limit.
func (p *Policy) UsesBeforeAuthLimits(routes []*Route) bool {
	for _, r := range routes {
		for _, l := range p.RateLimitsFor(r) {
			if l.BeforeAuth() {
				return true
			}
		}
	}
	return false
}

// applyLimitStageDefaults makes every limit's stage explicit.
func applyLimitStageDefaults(p *Policy) {
	for _, l := range p.RateLimits {
		if l.Stage == "" {
			l.Stage = StageAfterAuth
		}
	}
}
