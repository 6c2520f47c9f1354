package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/xds"
)

// rolloutPolicy is a policy for two Envoys, one in node group canary and
// one in main, each with its own listener, in two rollout stages with a
// short hold. extra is added to the routes; extraListeners to the
// listeners.
func rolloutPolicy(canary, main, services, extraListeners, extra string) string {
	return fmt.Sprintf(`listeners:
  - { name: canary, address: 127.0.0.1, port: %s, groups: [canary] }
  - { name: main, address: 127.0.0.1, port: %s, groups: [main] }
%s%s
routes:
  - { name: api, match: { path_prefix: /api }, to: api%s }
rollout:
  hold: 2s
  max_5xx_ratio: 0.2
  stages:
    - { name: first, groups: [canary] }
    - { name: second, groups: [main] }
`, port(canary), port(main), extraListeners, services, extra)
}

// TestStagedRolloutPromotesGoodChangesAndRollsBackBadOnes: with two real
// Envoys in two stages, a good change reaches the first stage, then the
// second after the hold; a change that makes the first stage's service
// answer 500 is rolled back and never reaches the second; a change the
// first stage's Envoy rejects (a listener on a port already bound) is
// rolled back too. /debug/rollout reports each step.
//
// Both protocols: an Envoy tells it applied a generation differently in
// each (version_info in state of the world, the nonce alone in delta).
func TestStagedRolloutPromotesGoodChangesAndRollsBackBadOnes(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name  string
		delta bool
	}{{"sotw", false}, {"delta", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testStagedRollout(t, mode.delta)
		})
	}
}

func testStagedRollout(t *testing.T, delta bool) {
	requireEnvoy(t)
	canary, main := freeAddr(t), freeAddr(t)
	services := servicesYAML(t, "api")
	dir := policyDir(t, map[string]string{"gateway.yaml": rolloutPolicy(canary, main, services, "", "")})
	stateDir := t.TempDir()
	tg := startTollgateWith(t, dir, "--state-dir", stateDir)
	canaryEnvoy := startEnvoy(t, tg.grpcAddr, "canary", delta)
	mainEnvoy := startEnvoy(t, tg.grpcAddr, "main", delta)
	waitService(t, "http://"+canary+"/api", nil, "api")
	waitService(t, "http://"+main+"/api", nil, "api")
	first := waitRollout(t, tg, "the first generation, everywhere at once", func(r xds.RolloutStatus) bool {
		return r.State == xds.RolloutComplete && generationApplied(r, r.Generation) == 2
	})

	t.Run("good change", func(t *testing.T) {
		writeFile(t, dir+"/gateway.yaml", rolloutPolicy(canary, main, services, "",
			", headers: { response: { set: [{ name: x-release, value: two }] } }"))
		release := func(addr string) string {
			resp, _ := mustRoundTrip(t, "GET", "http://"+addr+"/api", nil, "")
			return resp.Header.Get("x-release")
		}
		eventually(t, 30*time.Second, func() error {
			if got := release(canary); got != "two" {
				return fmt.Errorf("first stage answers x-release %q", got)
			}
			return nil
		})
		// Asked after the second stage answered: while the first stage
		// is not promoted, the second stage has the previous generation.
		mainRelease := release(main)
		if r := rolloutStatus(t, tg); r.Stages[0].State != xds.StagePromoted && mainRelease != "" {
			t.Errorf("the second stage has the change before the first was promoted: %+v", r)
		}
		done := waitRollout(t, tg, "the good change complete", func(r xds.RolloutStatus) bool {
			return r.State == xds.RolloutComplete && r.Generation != first.Generation
		})
		if got := release(main); got != "two" {
			t.Errorf("after the rollout the second stage answers x-release %q", got)
		}
		wantEvents(t, done, done.Generation, "started", "promoted first", "promoted second", "complete")
		if done.Previous != "" || generationApplied(done, done.Generation) != 2 {
			t.Errorf("complete rollout: %+v", done)
		}
		eventually(t, 10*time.Second, func() error {
			if got := savedVersion(t, stateDir); got != done.Generation {
				return fmt.Errorf("the state directory holds %s, want the rolled-out %s", got, done.Generation)
			}
			return nil
		})
	})

	t.Run("change that makes the first stage answer 5xx", func(t *testing.T) {
		before := rolloutStatus(t, tg).Generation
		// The demo service answers the status x-demo-status asks for.
		writeFile(t, dir+"/gateway.yaml", rolloutPolicy(canary, main, services, "",
			`, headers: { request: { set: [{ name: x-demo-status, value: "500" }] } }`))
		var failed int
		r := waitRollout(t, tg, "the 5xx change rolled back", func(r xds.RolloutStatus) bool {
			// Traffic through the first stage while it holds.
			for range 20 {
				if status, _ := call("GET", "http://"+canary+"/api", nil); status == 500 {
					failed++
				}
			}
			if status, _ := call("GET", "http://"+main+"/api", nil); status != 200 {
				t.Errorf("the second stage answered %d during the first stage's hold", status)
			}
			return r.State == xds.RolloutRolledBack
		})
		if failed == 0 {
			t.Error("the first stage never answered 500: the change never reached it")
		}
		// The status model (tollgate status, the status page) shows it.
		var st struct {
			Rollout *struct{ State, Reason string } `json:"rollout"`
		}
		_, body, err := httpGet(tg.adminURL("/debug/status"), nil)
		if err != nil || json.Unmarshal(body, &st) != nil || st.Rollout == nil || st.Rollout.State != xds.RolloutRolledBack {
			t.Errorf("/debug/status does not show the rollback (%v): %s", err, body)
		}
		if !strings.Contains(r.Reason, "5xx ratio") || r.Previous != before {
			t.Errorf("rolled back for %q to %q, want the 5xx ratio and %s", r.Reason, r.Previous, before)
		}
		wantEvents(t, r, r.Generation, "started", "rolled_back first")
		if r.Stages[1].State != xds.StageWaiting {
			t.Errorf("second stage %+v, want waiting", r.Stages[1])
		}
		// The first stage is back on the previous generation; the second
		// never had the change.
		waitService(t, "http://"+canary+"/api", nil, "api")
		if dump := configDump(t, mainEnvoy); strings.Contains(dump, "x-demo-status") {
			t.Error("the second stage's Envoy holds the rolled-back change")
		}
		if dump := configDump(t, canaryEnvoy); strings.Contains(dump, "x-demo-status") {
			t.Error("the first stage's Envoy still holds the rolled-back change")
		}
		// Read again, not from r: the rollback is decided before the
		// first stage's Envoy has acknowledged the previous generation
		// again.
		eventually(t, 15*time.Second, func() error {
			if got := generationApplied(rolloutStatus(t, tg), before); got != 2 {
				return fmt.Errorf("previous generation applied on %d of 2 proxies after the rollback", got)
			}
			return nil
		})
		// A restart serves the last generation that rolled out, not this one.
		if got := savedVersion(t, stateDir); got != before {
			t.Errorf("the state directory holds %s after the rollback, want the last rolled-out %s", got, before)
		}
	})

	t.Run("change an Envoy rejects", func(t *testing.T) {
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		busy := fmt.Sprintf("  - { name: busy, address: 127.0.0.1, port: %s, groups: [canary] }\n", port(held.Addr().String()))
		writeFile(t, dir+"/gateway.yaml", rolloutPolicy(canary, main, services, busy,
			", headers: { response: { set: [{ name: x-release, value: three }] } }"))
		r := waitRollout(t, tg, "the rejected change rolled back", func(r xds.RolloutStatus) bool {
			return r.State == xds.RolloutRolledBack && strings.Contains(r.Reason, "rejected Listener")
		})
		wantEvents(t, r, r.Generation, "started", "rolled_back first")
		eventually(t, 30*time.Second, func() error {
			if dump := configDump(t, canaryEnvoy); strings.Contains(dump, "three") {
				return fmt.Errorf("the first stage's Envoy still holds the rejected change")
			}
			return nil
		})
		if dump := configDump(t, mainEnvoy); strings.Contains(dump, "three") {
			t.Error("the second stage's Envoy got the rejected change")
		}
	})
}

// savedVersion is the version of the last good generation in a state
// directory, or "".
func savedVersion(t *testing.T, stateDir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "last-good-*.json"))
	if len(files) != 1 {
		return ""
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	return saved.Version
}

// rolloutStatus reads /debug/rollout.
func rolloutStatus(t *testing.T, tg *tollgate) xds.RolloutStatus {
	t.Helper()
	_, body, err := httpGet(tg.adminURL("/debug/rollout"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var r xds.RolloutStatus
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/debug/rollout: %v\n%s", err, body)
	}
	return r
}

// waitRollout waits until /debug/rollout satisfies ok.
func waitRollout(t *testing.T, tg *tollgate, what string, ok func(xds.RolloutStatus) bool) xds.RolloutStatus {
	t.Helper()
	var r xds.RolloutStatus
	eventually(t, 60*time.Second, func() error {
		if r = rolloutStatus(t, tg); !ok(r) {
			return fmt.Errorf("waiting for %s; /debug/rollout: %+v", what, r)
		}
		return nil
	})
	return r
}

// generationApplied is on how many proxies a generation is applied.
func generationApplied(r xds.RolloutStatus, version string) int {
	for _, g := range r.Generations {
		if g.Version == version {
			return g.Applied
		}
	}
	return -1
}

// wantEvents checks a generation's rollout history: events, each with its
// stage after a space when it has one.
func wantEvents(t *testing.T, r xds.RolloutStatus, version string, want ...string) {
	t.Helper()
	var got []string
	for _, e := range r.History {
		if e.Generation == version {
			got = append(got, strings.TrimSpace(e.Event+" "+e.Stage))
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("history of %s: %v, want %v", version, got, want)
	}
}
