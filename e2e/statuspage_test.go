package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate/tollgate/internal/testenv"
)

// statusXSS is what a client of the gRPC port could put in a node id or a
// NACK's error: it must show as text on the page, and never run.
const statusXSS = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`

// TestStatusPageShowsProxiesInARealBrowser runs two real Envoys in two
// node groups, and a third xDS client whose node id and NACK carry markup,
// has the gateway deny a request and rate-limit another, and looks at
// /status in headless Chromium: with JavaScript (the page
// refreshes itself) and without (the static page has everything). It
// keeps a screenshot: under $TOLLGATE_ARTIFACTS when set, else in the
// test's artifact directory (go test -artifacts -outputdir DIR keeps it).
// tollgate status against the same Tollgate reports the same proxies.
func TestStatusPageShowsProxiesInARealBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	requireEnvoy(t)
	edgeAddr, internalAddr := freeAddr(t), freeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	dir := policyDir(t, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners:
  - { name: edge, address: 127.0.0.1, port: %s, groups: [edge] }
  - { name: internal, address: 127.0.0.1, port: %s, groups: [internal] }
%s
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
routes:
  - { name: private, listeners: [edge], match: { path_prefix: /private }, to: edge-api, auth: { accept: [api_key] } }
  - { name: edge, listeners: [edge], to: edge-api, auth: { public: true }, rate_limits: [per-ip] }
  - { name: internal, listeners: [internal], to: internal-api, auth: { public: true } }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], fixed_window: { limit: 1, window: 1h } }
rollout:   # the first generation goes everywhere at once: complete
  stages:
    - { name: edge-first, groups: [edge] }
    - { name: internal-next, groups: [internal] }
`, port(edgeAddr), port(internalAddr), servicesYAML(t, "edge-api", "internal-api"))})
	tg := startTollgate(t, dir, "")
	edge := startEnvoy(t, tg.grpcAddr, "edge", false)
	internal := startEnvoy(t, tg.grpcAddr, "internal", true)
	nackFromHostileClient(t, tg.grpcAddr)

	st := waitStatusModel(t, tg, func(st statusModel) error {
		applied := 0
		for _, p := range st.Proxies {
			if p.Generation == st.Generation.Version {
				applied++
			}
		}
		if len(st.Proxies) != 3 || applied != 2 {
			return fmt.Errorf("want 3 proxies, 2 on %s: %+v", st.Generation.Version, st.Proxies)
		}
		return nil
	})
	generation := st.Generation.Version
	refuseRequests(t, "http://"+edgeAddr)

	out, err := exec.Command(tollgateBin, "status", "--admin", tg.adminURL("")).CombinedOutput()
	if err != nil {
		t.Fatalf("tollgate status: %v\n%s", err, out)
	}
	for _, want := range []string{edge.NodeID(), internal.NodeID(), "edge", "internal", "generation " + generation + " applied on 2 of 3 proxies", "state complete, generation " + generation} {
		if !strings.Contains(string(out), want) {
			t.Errorf("tollgate status lacks %q:\n%s", want, out)
		}
	}

	browser := startChromium(t, chromium)
	for _, js := range []bool{true, false} {
		t.Run(fmt.Sprintf("javascript=%v", js), func(t *testing.T) {
			checkStatusPage(t, browser, tg.adminURL("/status"), js, []string{edge.NodeID(), internal.NodeID(), generation})
		})
	}
}

// refuseRequests makes the gateway deny one request (no API key on the
// private route) and rate-limit another (the second on the edge route),
// for the page's recent denials and rate-limit events.
func refuseRequests(t *testing.T, base string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		if code, _ := call("GET", base+"/private", nil); code != 401 {
			return fmt.Errorf("/private without a key: %d, want 401", code)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if code, _ := call("GET", base+"/", nil); code != 429 {
			return fmt.Errorf("/ past the per-ip limit: %d, want 429", code)
		}
		return nil
	})
}

// statusModel is the part of /debug/status the test reads.
type statusModel struct {
	Generation struct{ Version string }
	Proxies    []struct {
		NodeID     string `json:"node_id"`
		Group      string
		Generation string
	}
}

func waitStatusModel(t *testing.T, tg *tollgate, ok func(statusModel) error) statusModel {
	t.Helper()
	var st statusModel
	eventually(t, 20*time.Second, func() error {
		code, body, err := httpGet(tg.adminURL("/debug/status"), nil)
		if err != nil || code != 200 {
			return fmt.Errorf("/debug/status: %d %v", code, err)
		}
		st = statusModel{}
		if err := json.Unmarshal(body, &st); err != nil {
			return err
		}
		return ok(st)
	})
	return st
}

// nackFromHostileClient opens an ADS stream as a node whose id carries
// markup and rejects the clusters it is sent with an error that does too.
func nackFromHostileClient(t *testing.T, grpcAddr string) {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "hostile-" + statusXSS, Cluster: "edge"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType,
		VersionInfo: "", ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "rejected " + statusXSS}}); err != nil {
		t.Fatal(err)
	}
}

// requireChromium finds Debian's chromium (testenv.Require: skipped
// locally when missing, a failure under CI).
func requireChromium(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "chromium", "make deps-chromium", func() (string, error) {
		if bin := os.Getenv("CHROMIUM_BIN"); bin != "" {
			return bin, nil
		}
		return exec.LookPath("chromium")
	})
}

// startChromium runs one headless Chromium for the test, stopped in
// t.Cleanup.
func startChromium(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return browser
}

// pageView is what the test reads of the page.
type pageView struct {
	proxies, generation, live, title, body string
	denials, rateLimits                    string
	injected                               int
	screenshot                             []byte
}

// checkStatusPage opens the page in a new tab and checks it shows want,
// shows the hostile values as text without running them, and (with
// JavaScript) that the page's script ran; it saves a screenshot.
func checkStatusPage(t *testing.T, browser context.Context, url string, js bool, want []string) {
	v, err := viewStatusPage(browser, url, js)
	if err != nil {
		t.Fatalf("chromium on %s: %v", url, err)
	}
	saveArtifact(t, fmt.Sprintf("status-page-js-%v.png", js), v.screenshot)
	for _, w := range want {
		if !strings.Contains(v.proxies+v.generation, w) {
			t.Errorf("the page does not show %q:\n%s\n%s", w, v.generation, v.proxies)
		}
	}
	if !strings.Contains(v.generation, "applied on 2 of 3 proxies") {
		t.Errorf("the page does not say the generation is applied on 2 of 3 proxies:\n%s", v.generation)
	}
	if !strings.Contains(v.proxies, "hostile-"+statusXSS) || !strings.Contains(v.proxies, "rejected "+statusXSS) {
		t.Errorf("the hostile node id and NACK error are not shown as text:\n%s", v.proxies)
	}
	if v.injected != 0 || v.title != "Tollgate status" {
		t.Errorf("markup from a node id or NACK became elements (%d injected, title %q)", v.injected, v.title)
	}
	if !strings.Contains(v.denials, "private") || !strings.Contains(v.denials, "401") {
		t.Errorf("the recent denials lack the refused request to private:\n%s", v.denials)
	}
	if !strings.Contains(v.rateLimits, "per-ip") || !strings.Contains(v.rateLimits, "edge") {
		t.Errorf("the recent rate-limit events lack per-ip on edge:\n%s", v.rateLimits)
	}
	if !strings.Contains(v.body, "Staged rollout") || !strings.Contains(v.body, "state complete") || strings.Contains(v.body, "no staged rollout configured") {
		t.Errorf("the page does not show the staged rollout (the first generation, complete):\n%s", v.body)
	}
	switch {
	case js && !strings.Contains(v.live, "live"):
		t.Errorf("with JavaScript the page does not say it is live: %q", v.live)
	case !js && strings.Contains(v.live, "live"):
		t.Errorf("with JavaScript off the script ran: %q", v.live)
	case !js && !strings.Contains(v.body, "reload the page to refresh it"):
		t.Error("with JavaScript off the page does not say how to refresh it")
	}
}

// viewStatusPage loads the page in a new tab, with JavaScript or without,
// and reads it. With JavaScript it waits for the script's first refresh.
func viewStatusPage(browser context.Context, url string, js bool) (pageView, error) {
	var v pageView
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := chromedp.Do(tab); err != nil { // opens the tab
		return v, err
	}
	tab, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	defer cancelTimeout()
	if !js {
		if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			return v, err
		}
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#proxies table"))}
	if js {
		steps = append(steps, chromedp.WaitVisible(chromedp.CSS("#live.good")))
	}
	if err := chromedp.Do(tab, steps...); err != nil {
		return v, err
	}
	var err error
	text := func(sel string) string {
		var s string
		if err == nil {
			s, err = chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
		}
		return s
	}
	v.proxies, v.generation, v.body = text("#proxies"), text("#generation"), text("body")
	v.denials, v.rateLimits = text("#denials"), text("#ratelimits")
	if err == nil {
		v.live, err = chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("#live")))
	}
	if err == nil {
		v.title, err = chromedp.Run(tab, chromedp.Title())
	}
	if err == nil {
		// The page's own script is the only element a value could not
		// have made: any other img or script was injected.
		v.injected, err = chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('img, script:not([src="/status/status.js"])').length`))
	}
	if err == nil {
		v.screenshot, err = chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100: PNG
	}
	return v, err
}

// saveArtifact keeps a file a person looks at after the run: in
// $TOLLGATE_ARTIFACTS when set, else in the test's artifact directory.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("TOLLGATE_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
