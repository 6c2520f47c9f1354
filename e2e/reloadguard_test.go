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
	if got := g.tollgate.metric(t, "tollgate_policy_serving_routes"); got != strconv.Itoa(2) {
		t.Errorf("serving_routes after the fix = %q, want 2", got)
	}
}
