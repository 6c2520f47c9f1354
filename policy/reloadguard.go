package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// ReloadGuard says which destructive edits the policy makes on purpose. A
// generation that would stop most of the gateway's traffic — no listener
// at all (an empty or truncated file, say) or most of the serving routes
// gone — is refused by the reloader unless its own reload_guard allows it,
// so that a slip never takes the gateway down silently.
type ReloadGuard struct {
	Source `yaml:"-"`

	// AllowNoListeners applies a policy with no listeners, which makes
	// every Envoy close its ports.
	AllowNoListeners bool `yaml:"allow_no_listeners"`
	// MaxRemovedRoutesPercent is the largest share of the serving
	// generation's routes (by name) one edit may remove; default 50, 100
	// allows any edit. It applies only when at least
	// GuardedRouteCount routes are serving.
	MaxRemovedRoutesPercent int `yaml:"max_removed_routes_percent"`
}

// GuardedRouteCount is how many routes the serving generation must have
// before removing most of them is refused, so that a small development
// policy can be rewritten freely.
const GuardedRouteCount = 4

// Reasons a GuardError gives; they label Tollgate's rejection metric.
const (
	GuardNoListeners   = "no_listeners"
	GuardRoutesRemoved = "routes_removed"
)

// GuardError is a valid generation that the reload guard refuses to apply
// over the serving one.
type GuardError struct {
	// Reason is GuardNoListeners or GuardRoutesRemoved.
	Reason string
	msg    string
}

func (e *GuardError) Error() string { return e.msg }

// mergeReloadGuard takes the reload_guard section of one document; it may
// be written once in the whole policy.
func (p *Policy) mergeReloadGuard(g *ReloadGuard, errs *Errors) {
	if g == nil {
		return
	}
	if p.ReloadGuard != nil {
		errs.addf(g.Pos(), "reload_guard", "reload_guard is already defined at %s", p.ReloadGuard.Pos())
		return
	}
	p.ReloadGuard = g
}

func (v *validator) reloadGuard() {
	g := v.p.ReloadGuard
	if g != nil && g.Has("max_removed_routes_percent") && (g.MaxRemovedRoutesPercent < 0 || g.MaxRemovedRoutesPercent > 100) {
		v.errorf(g.At("max_removed_routes_percent"), "reload_guard.max_removed_routes_percent", "must be between 0 and 100, got %d", g.MaxRemovedRoutesPercent)
	}
}

// applyReloadGuardDefaults gives every policy a guard, so that the
// reloader reads resolved values only.
func applyReloadGuardDefaults(p *Policy) {
	if p.ReloadGuard == nil {
		p.ReloadGuard = &ReloadGuard{}
	}
	if !p.ReloadGuard.Has("max_removed_routes_percent") {
		p.ReloadGuard.MaxRemovedRoutesPercent = DefaultMaxRemovedRoutesPercent
	}
}

// CheckReload reports whether next may replace serving, the last good
// generation (nil when there is none). It returns a *GuardError that says
// what to write to apply next on purpose, or nil.
func CheckReload(serving, next *Policy) error {
	g := next.ReloadGuard
	if len(next.Listeners) == 0 && !g.AllowNoListeners {
		return &GuardError{Reason: GuardNoListeners, msg: fmt.Sprintf(
			"%s: the policy has no listeners, so applying it would close every Envoy listener; "+
				"set `reload_guard: { allow_no_listeners: true }` to apply it on purpose", policyPlace(next))}
	}
	if serving == nil || len(serving.Routes) < GuardedRouteCount {
		return nil
	}
	removed := removedRoutes(serving, next)
	if len(removed)*100 <= g.MaxRemovedRoutesPercent*len(serving.Routes) {
		return nil
	}
	shown := removed
	if len(shown) > 10 {
		shown = append(slices.Clip(shown[:10]), "…")
	}
	return &GuardError{Reason: GuardRoutesRemoved, msg: fmt.Sprintf(
		"%s: the policy removes %d of the %d serving routes (%s), more than reload_guard.max_removed_routes_percent (%d%%); "+
			"set `reload_guard: { max_removed_routes_percent: 100 }` to apply it on purpose",
		policyPlace(next), len(removed), len(serving.Routes), strings.Join(shown, ", "), g.MaxRemovedRoutesPercent)}
}

// removedRoutes are the names of serving's routes that next lacks, in
// serving's order.
func removedRoutes(serving, next *Policy) []string {
	kept := make(map[string]bool, len(next.Routes))
	for _, r := range next.Routes {
		kept[r.Name] = true
	}
	var out []string
	for _, r := range serving.Routes {
		if !kept[r.Name] {
			out = append(out, r.Name)
		}
	}
	return out
}

// policyPlace names where a policy was read from: its directory, or its
// only file.
func policyPlace(p *Policy) string {
	switch {
	case len(p.Files) == 0:
		return "policy"
	case len(p.Files) == 1:
		return p.Files[0]
	default:
		return filepath.Dir(p.Files[0])
	}
}
