// Package preflight is the production deployment checklist of the
// gateway patterns Tollgate follows, turned into checks: each item of the
// checklist (and a few mistakes we know bite) is passed, failed or not
// applicable for a policy, and every failure names the file:line:col to
// change. Static items read the validated policy alone (Static); live
// items read a running gateway's Prometheus-format stats and send it
// requests (live.go, load.go). `tollgate preflight` prints the report.
package preflight

import (
	"fmt"

	"github.com/tollgate/tollgate/policy"
)

// Status is an item's outcome.
type Status string

// The outcomes of an item.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// NotApplicable is an item the policy or the flags give nothing to
	// check: no JWT provider, no Redis store, no --gateway.
	NotApplicable Status = "n/a"
)

// Finding is one thing to change: where, and what is wrong there.
type Finding struct {
	// At is file:line:col of the policy element to change.
	At      string `json:"at"`
	Message string `json:"message"`
}

// Result is the outcome of one checklist item.
type Result struct {
	// ID names the item for scripts ("rate-limits").
	ID string `json:"id"`
	// Title is the item as people read it.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Detail says what was checked, or why the item does not apply.
	Detail   string    `json:"detail,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
}

// Report is every item's result, in checklist order.
type Report struct {
	Policy string   `json:"policy"`
	Passed bool     `json:"passed"`
	Items  []Result `json:"items"`
}

// Add appends a result and keeps Passed up to date.
func (r *Report) Add(res Result) {
	if len(r.Items) == 0 {
		r.Passed = true
	}
	if res.Status == Fail {
		r.Passed = false
	}
	r.Items = append(r.Items, res)
}

// findings collects the findings of one item.
type findings []Finding

func (f *findings) add(at policy.Pos, format string, a ...any) {
	*f = append(*f, Finding{At: at.String(), Message: fmt.Sprintf(format, a...)})
}

// result is a pass when nothing was found, a fail otherwise.
func (f findings) result(id, title, detail string) Result {
	r := Result{ID: id, Title: title, Status: Pass, Detail: detail, Findings: f}
	if len(f) > 0 {
		r.Status = Fail
	}
	return r
}

func notApplicable(id, title, why string) Result {
	return Result{ID: id, Title: title, Status: NotApplicable, Detail: why}
}

// StaticOptions tunes the static items.
type StaticOptions struct {
	// CertDays: a certificate expiring within this many days fails.
	CertDays int
}

// Static runs every item that needs only the policy, in checklist order.
func Static(p *policy.Policy, o StaticOptions) []Result {
	return []Result{
		checkRateLimits(p),
		checkImpossibleLimits(p),
		checkBreakers(p),
		checkJWKS(p),
		checkAPIKeys(p),
		checkTimeouts(p),
		checkRedisFailureMode(p),
		checkShadowedRoutes(p),
		checkProtectedServices(p),
		checkCertificates(p, o),
	}
}

// forwards reports whether a route sends requests to services (a
// redirect or a direct response does not).
func forwards(r *policy.Route) bool { return len(r.To) > 0 }

// anonymousReach reports whether a caller without credentials gets
// through the route: no auth, public, or accepting anonymous.
func anonymousReach(r *policy.Route) bool {
	return r.Auth == nil || r.Auth.Public || r.Auth.Accepts(policy.CredAnonymous)
}

// credentialReach reports whether the route takes some credential.
func credentialReach(r *policy.Route) bool {
	if r.Auth == nil || r.Auth.Public {
		return false
	}
	for _, k := range []string{policy.CredAPIKey, policy.CredJWT, policy.CredClientCert} {
		if r.Auth.Accepts(k) {
			return true
		}
	}
	return false
}
