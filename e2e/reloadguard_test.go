package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// getLoop sends GETs to url one after another, as a steady client does,
// and counts the answers by status (0: the connection failed).
type getLoop struct {
	mu     sync.Mutex
	counts map[int]int
	stop   chan struct{}
	done   chan struct{}
}

func startGetLoop(t *testing.T, url string) *getLoop {
	l := &getLoop{counts: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			status, _, _ := httpGet(url, nil)
			l.mu.Lock()
			l.counts[status]++
			l.mu.Unlock()
			time.Sleep(2 * time.Millisecond) // a steady client, not a flood
		}
	}()
	t.Cleanup(func() { l.end() })
	return l
}

func (l *getLoop) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.counts {
		n += c
	}
	return n
}

// end stops the loop and returns the counts.
func (l *getLoop) end() map[int]int {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}

// waitRequests waits until the loop has made n more requests.
func (l *getLoop) waitRequests(t *testing.T, n int) {
	t.Helper()
	target := l.total() + n
	eventually(t, 30*time.Second, func() error {
		if got := l.total(); got < target {
			return fmt.Errorf("%d of %d requests made", got, target)
		}
		return nil
	})
}

func TestEmptyPolicyFileIsRefusedWithoutDroppingRequests(t *testing.T) {
	routes := "routes:\n  - { name: orders, match: { path_prefix: /orders }, to: orders }\n"
	g := startGateway(t, map[string]string{"gateway.yaml": listenerYAML + servicesYAML(t, "orders") + routes}, false, "/orders", "orders")
	policyFile := filepath.Join(g.dir, "gateway.yaml")
	good, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	load := startGetLoop(t, g.base+"/orders")
	load.waitRequests(t, 50)

	reloads := func() string {
		return g.tollgate.metric(t, `tollgate_policy_reloads_total{result="applied"}`) + "/" +
			g.tollgate.metric(t, `tollgate_policy_reloads_total{result="rejected"}`)
	}
	before := reloads()
	writeFile(t, policyFile, "")
	eventually(t, 10*time.Second, func() error {
		if reloads() == before {
			return fmt.Errorf("the empty policy was not read yet (applied/rejected %s)", before)
		}
		return nil
	})
	// Long enough for Envoy to have dropped its listener had the empty
	// policy been pushed (it took well under 300 requests before).
	load.waitRequests(t, 300)
	counts := load.end()
	if len(counts) != 1 || counts[200] == 0 {
		t.Errorf("answers by status while an empty policy was written: %v, want only 200", counts)
	}
	for sample, want := range map[string]string{
		`tollgate_policy_reload_rejections_total{reason="no_listeners"}`: "1",
		"tollgate_policy_last_reload_successful":                         "0",
		"tollgate_policy_serving_listeners":                              "1",
		"tollgate_policy_serving_routes":                                 "1",
	} {
		if got := g.tollgate.metric(t, sample); got != want {
			t.Errorf("%s = %q, want %q", sample, got, want)
		}
	}
	status, body, _ := httpGet(g.tollgate.adminURL("/readyz"), nil)
	if status != 200 || !strings.Contains(string(body), "last reload refused") || !strings.Contains(string(body), "allow_no_listeners") {
		t.Errorf("/readyz = %d %q, want 200 saying the last reload was refused and why", status, body)
	}

	// Fixing the file applies it, and readiness no longer names a refusal.
	writeFile(t, policyFile, string(good)+"  - { name: more, match: { path_prefix: /more }, to: orders }\n")
	waitService(t, g.base+"/more", nil, "orders")
	// Envoy may route /more before the reloader, which pushes to Envoy
	// first, has set the gauge: wait for it rather than read it once.
	eventually(t, 10*time.Second, func() error {
		if got := g.tollgate.metric(t, "tollgate_policy_serving_routes"); got != strconv.Itoa(2) {
			return fmt.Errorf("serving_routes after the fix = %q, want 2", got)
		}
		return nil
	})
}

const restartPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM] }
auth:
  api_keys: { file: keys/keys.yaml }
rate_limits:
  per-client: { key: [client_id], fixed_window: { limit: 5, window: 1h } }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [per-client] }
`

// servingVersion is the version /readyz names.
func servingVersion(t *testing.T, tg *tollgate) string {
	t.Helper()
	_, body, _ := httpGet(tg.adminURL("/readyz"), nil)
	v, _, _ := strings.Cut(strings.SplitAfter(string(body), "serving policy version ")[1], " ")
	return v
}

func TestRestartWithABrokenPolicyServesTheLastGoodGeneration(t *testing.T) {
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	policy := strings.Replace(restartPolicy, "UPSTREAM", upstream(t, "api", 1, nil)[0], 1)
	g := startAuthGateway(t, policy, "", "", kf, "/health", "--state-dir", stateDir)
	orders, withKey := g.base+"/orders", map[string]string{"X-API-Key": key}
	if _, d := authSend(t, orders, nil); status(d) != 401 {
		t.Fatalf("before the restart, /orders without a key answered %d, want 401", status(d))
	}
	before := servingVersion(t, g.tollgate)

	g.tollgate.stop()
	policyFile := filepath.Join(g.dir, "gateway.yaml")
	good, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, policyFile, string(good)+"  - { name: broken, match: { path_prefix: /broken }, to: nowhere }\n")
	tg := startTollgateAt(t, g.dir, g.tollgate.grpcAddr, "--state-dir", stateDir)

	if v := servingVersion(t, tg); v != before {
		t.Errorf("after the restart serving version %q, want the last good %q (Envoy must get no new push)", v, before)
	}
	if !strings.Contains(tg.log.String(), "serving the last good generation") || !strings.Contains(tg.log.String(), `unknown service \"nowhere\"`) {
		t.Errorf("the log does not say the last good generation serves and why:\n%s", tg.log)
	}
	if got := tg.metric(t, "tollgate_policy_last_reload_successful"); got != "0" {
		t.Errorf("last_reload_successful = %q, want 0 while the directory is broken", got)
	}
	if _, body, _ := httpGet(tg.adminURL("/debug/config"), nil); !strings.Contains(string(body), `"restored_from": "`+stateDir) {
		t.Errorf("/debug/config does not name the state file the generation came from:\n%s", body)
	}
	eventually(t, 15*time.Second, func() error {
		if _, d := authSend(t, orders, nil); status(d) != 401 {
			return fmt.Errorf("/orders without a key answered %d, want 401", status(d))
		}
		return nil
	})
	var got []string
	for range 7 {
		_, d := authSend(t, orders, withKey)
		got = append(got, strconv.Itoa(status(d)))
	}
	if want := "200 200 200 200 200 429 429"; strings.Join(got, " ") != want {
		t.Errorf("/orders with a key after the restart answered %s, want %s (the limit of 5 enforced)", strings.Join(got, " "), want)
	}

	// Fixing the policy applies it.
	writeFile(t, policyFile, string(good)+"  - { name: fixed, match: { path_prefix: /fixed }, to: api, auth: { public: true } }\n")
	waitService(t, g.base+"/fixed", nil, "api")
	if got := tg.metric(t, "tollgate_policy_last_reload_successful"); got != "1" {
		t.Errorf("last_reload_successful after the fix = %q, want 1", got)
	}
}
