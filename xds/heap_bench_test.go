package xds

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// heapFleetEnv, when set, makes TestHeapFleetProcess a fleet of simulated
// Envoys for BenchmarkControlPlaneHeap: "address,delta,policy,clients".
const heapFleetEnv = "TOLLGATE_HEAP_FLEET"

// heapPolicies are the policies BenchmarkControlPlaneHeap serves, by name
// (the fleet process builds the same one to know what to subscribe to).
var heapPolicies = map[string]func(tb testing.TB, rev int) *policy.Policy{
	"10k": largeFanoutPolicy,
	"200": fanoutPolicy,
}

// heapEnvoys is how many simulated Envoys measure the heap per Envoy.
const heapEnvoys = 200

// BenchmarkControlPlaneHeap measures the control plane's live heap (heap
// in use by live objects plus goroutine stacks, after two collections) as
// issue 12 asks: per 1,000 routes and per connected Envoy, state of the
// world and delta. The simulated Envoys of xds/fanout_bench_test.go run in
// a child process (this test binary, TestHeapFleetProcess), so that only
// the server's side of their connections is counted here.
//
//   - MiB/1k-routes: the growth from before the server starts to the
//     server serving the 10,000-route, 1,000-service policy (largePolicy)
//     to one Envoy per node group, divided by 10. It holds the policy
//     itself, the translated and marshalled snapshots of both groups, and
//     the server's fixed cost (so it is an upper bound).
//   - KiB/envoy: the growth when heapEnvoys more Envoys connect and are
//     configured, per Envoy, with the 200-route policy of BenchmarkFanout
//     and with the 10,000-route one.
//
// go test ./xds/ -run '^$' -bench BenchmarkControlPlaneHeap -benchtime 1x
func BenchmarkControlPlaneHeap(b *testing.B) {
	for _, delta := range []bool{false, true} {
		for _, pol := range []string{"200", "10k"} {
			name := fmt.Sprintf("%s/%s-routes", map[bool]string{false: "sotw", true: "delta"}[delta], pol)
			b.Run(name, func(b *testing.B) {
				for range b.N {
					measureHeap(b, delta, pol)
				}
			})
		}
	}
}

func measureHeap(b *testing.B, delta bool, pol string) {
	before := liveBytes()
	f := startFanoutFleet(b, delta, heapPolicies[pol])
	startHeapFleet(b, f.addr, delta, pol, len(fanoutGroups))
	served := liveBytes()
	if pol == "10k" {
		b.ReportMetric(float64(int64(served)-int64(before))/10/(1<<20), "MiB/1k-routes")
	}
	startHeapFleet(b, f.addr, delta, pol, heapEnvoys)
	connected := liveBytes()
	writeHeapProfile(b)
	b.ReportMetric(float64(int64(connected)-int64(served))/heapEnvoys/(1<<10), "KiB/envoy")
	if logs := f.logs.String(); logs != "" {
		b.Fatalf("server warned:\n%s", logs)
	}
}

// writeHeapProfile writes a heap profile (with the Envoys connected) to
// the file $TOLLGATE_HEAP_PROFILE names, if any: what the figures are
// made of (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(b *testing.B) {
	name := os.Getenv("TOLLGATE_HEAP_PROFILE")
	if name == "" {
		return
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// startHeapFleet runs n simulated Envoys against addr in a child process
// and returns once every one has received and ACKed every type; they
// disconnect when the benchmark ends.
func startHeapFleet(b *testing.B, addr string, delta bool, pol string, n int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeapFleetProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%t,%s,%d", heapFleetEnv, addr, delta, pol, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	b.Cleanup(func() {
		stdin.Close() // the fleet disconnects and exits
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := bufio.NewScanner(stdout)
	ready := false
	for !ready && lines.Scan() {
		ready = lines.Text() == "fleet ready"
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(exited) }()
	if !ready {
		b.Fatalf("the fleet of %d Envoys did not get ready", n)
	}
}

// TestHeapFleetProcess is BenchmarkControlPlaneHeap's fleet of simulated
// Envoys, run in a child process; it does nothing unless heapFleetEnv is
// set. It connects the Envoys, says "fleet ready" and holds them until
// its standard input closes.
func TestHeapFleetProcess(t *testing.T) {
	spec := os.Getenv(heapFleetEnv)
	if spec == "" {
		t.Skip("the child process of BenchmarkControlPlaneHeap")
	}
	parts := strings.Split(spec, ",")
	n, err := strconv.Atoi(parts[3])
	if err != nil || len(parts) != 4 {
		t.Fatalf("%s=%q: want address,delta,policy,clients", heapFleetEnv, spec)
	}
	f := &fanoutFleet{addr: parts[0], delta: parts[1] == "true", subs: fanoutSubscriptions(t, heapPolicies[parts[2]](t, 0))}
	defer f.stopClients()
	f.connect(t, n)
	fmt.Println("fleet ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// fanoutSubscriptions is what an Envoy of each fanout group subscribes to
// by name for policy p, as startFanoutFleet works it out.
func fanoutSubscriptions(tb testing.TB, p *policy.Policy) map[string]fanoutSubscription {
	subs := map[string]fanoutSubscription{}
	for _, group := range fanoutGroups {
		res, err := Translate(p, group, Options{})
		if err != nil {
			tb.Fatal(err)
		}
		var sub fanoutSubscription
		for _, e := range res.Endpoints {
			sub.endpoints = append(sub.endpoints, e.GetClusterName())
		}
		for _, r := range res.Routes {
			sub.routes = append(sub.routes, r.GetName())
		}
		subs[group] = sub
	}
	return subs
}
