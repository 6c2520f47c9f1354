package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/redistest"
)

// awayPolicy has a public route without limits, a protected route, and
// two public routes limited before and after authentication, with the
// auth and rate-limit failure modes to test. The limits are far above
// what the test sends: while Tollgate answers, every limited request is
// admitted.
const awayPolicy = `
listeners: [{ name: public, address: 127.0.0.1, port: {{PORT}} }]
services: { api: { endpoints: [{{API}}] } }
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
  failure_mode: {{AUTH_MODE}}
rate_limits:
  early: { stage: before_auth, key: [client_ip], token_bucket: { rate: 1000/s } }
  late: { key: [client_ip], fixed_window: { limit: 1000, window: 1s } }
rate_limit_store: { redis: { address: {{REDIS}} }, on_failure: {{LIMIT_MODE}} }
routes:
  - { name: open, match: { path_prefix: /open }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] } }
  - { name: early, match: { path_prefix: /early }, to: api, auth: { public: true }, rate_limits: [early] }
  - { name: late, match: { path_prefix: /late }, to: api, auth: { public: true }, rate_limits: [late] }
`

// TestFailureModesHoldWhenTollgateIsAway runs one Tollgate (xDS, authz and
// rate limiting in one process) behind a real Envoy, then freezes it
// (SIGSTOP), thaws it, and kills it. Envoy keeps the configuration it
// last received, so what the protected and limited routes answer is the
// policy's failure modes as Envoy applies them alone:
//   - auth failure_mode deny: 503; allow: admitted with no identity;
//   - on_failure fail_closed: 503 from both rate-limit filters; fail_open:
//     admitted; grace: its then-mode (fail_open by default), since grace's
//     per-instance counting needs Tollgate.
//
// Frozen, each call waits for Envoy's timeout (the policy's deadline plus
// a margin) before the mode applies; killed, the connection is refused at
// once. The test asserts statuses only, never durations.
func TestFailureModesHoldWhenTollgateIsAway(t *testing.T) {
	cases := []struct {
		auth, limits string
		then         string // subtest name suffix
		orders       int    // the protected route, without credentials, while Tollgate is away
		limited      int    // both limited routes
	}{
		{"deny", "fail_closed", "", 503, 503},
		{"allow", "fail_open", "", 200, 200},
		{"deny", "grace", "", 503, 200},
		{"allow", "grace, grace: { then: fail_closed }", "-then-closed", 200, 503},
	}
	for _, tc := range cases {
		t.Run(tc.auth+","+strings.TrimSuffix(strings.Fields(tc.limits)[0], ",")+tc.then, func(t *testing.T) {
			base, tg, proxy := startAwayGateway(t, tc.auth, tc.limits)
			expectAnswers(t, base, "up", map[string]int{"/open": 200, "/orders": 401, "/early": 200, "/late": 200})
			away := map[string]int{"/open": 200, "/orders": tc.orders, "/early": tc.limited, "/late": tc.limited}

			if err := tg.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			thawed := false
			thaw := func() {
				if !thawed {
					thawed = true
					_ = tg.cmd.Process.Signal(syscall.SIGCONT)
				}
			}
			t.Cleanup(thaw) // before tg.stop, which t.Cleanup registered earlier
			eventually(t, 5*time.Second, func() error { return stopped(tg.cmd.Process.Pid) })
			expectAnswers(t, base, "frozen", away)
			thaw()
			eventually(t, 10*time.Second, func() error {
				return answers(base, map[string]int{"/orders": 401, "/early": 200, "/late": 200})
			})

			if err := tg.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-tg.done
			expectAnswers(t, base, "killed", away)
			checkEnvoyDecided(t, proxy, tc.auth, tc.limits)
		})
	}
}

// startAwayGateway starts Redis, one Tollgate and Envoy on awayPolicy.
func startAwayGateway(t *testing.T, authMode, limitMode string) (string, *tollgate, *envoy.Process) {
	t.Helper()
	requireEnvoy(t)
	redis := redistest.Start(t)
	addr := freeAddr(t)
	policy := strings.NewReplacer("{{PORT}}", addr[strings.LastIndex(addr, ":")+1:], "{{API}}", upstream(t, "api", 1, nil)[0],
		"{{REDIS}}", redis.Addr, "{{AUTH_MODE}}", authMode, "{{LIMIT_MODE}}", limitMode).Replace(awayPolicy)
	tg := startTollgate(t, policyDir(t, map[string]string{"gateway.yaml": policy}), "")
	proxy := startEnvoy(t, tg.grpcAddr, "default", false)
	base := "http://" + addr
	waitService(t, base+"/open", nil, "api")
	return base, tg, proxy
}

// checkEnvoyDecided checks from Envoy's stats that the answers above were
// Envoy's failure modes: its ext_authz and both rate-limit filters called
// Tollgate and failed (so they were enabled on the routes), admitted
// requests were admitted by the failure mode, and no request was ever
// refused as over a limit — the limits are far above the traffic, so an
// over_limit would be a store wrongly degraded (by the requests a frozen
// Tollgate found expired when thawed).
func checkEnvoyDecided(t *testing.T, p *envoy.Process, authMode, limitMode string) {
	t.Helper()
	nonzero := []string{"cluster.api.ext_authz.error", "cluster.api.ratelimit.error", "cluster.api.ratelimit.before_auth.error"}
	zero := []string{"cluster.api.ratelimit.over_limit", "cluster.api.ratelimit.before_auth.over_limit"}
	if authMode == "allow" {
		nonzero = append(nonzero, "cluster.api.ext_authz.failure_mode_allowed")
	}
	if limitMode == "fail_open" {
		nonzero = append(nonzero, "cluster.api.ratelimit.failure_mode_allowed", "cluster.api.ratelimit.before_auth.failure_mode_allowed")
	}
	for _, name := range nonzero {
		if v := stat(t, p, name); v == "" || v == "0" {
			t.Errorf("Envoy stat %s = %q, want > 0", name, v)
		}
	}
	for _, name := range zero {
		if v := stat(t, p, name); v != "" && v != "0" {
			t.Errorf("Envoy stat %s = %s, want 0", name, v)
		}
	}
}

// expectAnswers sends each path three times, with a forged identity, and
// checks its status; an admitted request must reach the service with no
// identity header (the client's forged one was removed, and no one
// vouched for another).
func expectAnswers(t *testing.T, base, phase string, want map[string]int) {
	t.Helper()
	forged := map[string]string{"x-tollgate-client-id": "admin", "x-tollgate-auth": "api_key"}
	for path, status := range want {
		for range 3 {
			got, r := call("GET", base+path, forged)
			if got != status {
				t.Errorf("Tollgate %s: GET %s answered %d, want %d", phase, path, got, status)
				break
			}
			for h, v := range r.Headers {
				if strings.HasPrefix(strings.ToLower(h), "x-tollgate-") {
					t.Errorf("Tollgate %s: GET %s reached the service with %s: %s", phase, path, h, v)
				}
			}
		}
	}
}

// stopped says whether every thread of a process is stopped: SIGSTOP
// reaches the threads of a process one by one, so a request sent just
// after the signal could still be answered.
func stopped(pid int) error {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return fmt.Errorf("threads of %d: %v", pid, err)
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		// pid (comm) state ...: comm may hold spaces, the state follows
		// the last parenthesis.
		if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return fmt.Errorf("%s: not stopped yet", f)
		}
	}
	return nil
}

// answers checks each path's status once.
func answers(base string, want map[string]int) error {
	for path, status := range want {
		if got, _ := call("GET", base+path, nil); got != status {
			return fmt.Errorf("GET %s: %d, want %d", path, got, status)
		}
	}
	return nil
}
