package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/xds"
)

// Secrets a client sends; none may appear in any log, metric or debug page.
const (
	secretBearer = "s3cr3t-bearer-token-5b1f"
	secretAPIKey = "s3cr3t-api-key-93ac"
	secretQuery  = "s3cr3t-query-key-77d0"
)

// startObservedGateway is startGateway with Envoy's access-log files
// flushed every 200ms instead of every 10s.
func startObservedGateway(t *testing.T, files map[string]string, probePath string) *gateway {
	t.Helper()
	return startGateway(t, files, false, probePath, "", "--file-flush-interval-msec", "200")
}

// exchange is one request through the gateway and what came back.
type exchange struct {
	status    int
	body      []byte
	reply     reply // the demo service's echo, when it answered 200
	requestID string
}

// send makes a request with a body and returns the whole exchange.
func send(t *testing.T, method, url string, headers map[string]string, body string) exchange {
	t.Helper()
	resp, b := mustRoundTrip(t, method, url, headers, body)
	ex := exchange{status: resp.StatusCode, body: b}
	_ = json.Unmarshal(ex.body, &ex.reply)
	ex.requestID = ex.reply.Headers["x-request-id"]
	return ex
}

// secretHeaders are credentials a client might send.
var secretHeaders = map[string]string{"Authorization": "Bearer " + secretBearer, "x-api-key": secretAPIKey}

// accessEntries reads the JSON lines of text (other lines are skipped).
func accessEntries(text string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if line := sc.Bytes(); len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &e) == nil && e["request_id"] != nil {
			out = append(out, e)
		}
	}
	return out
}

// waitEntry waits until the access log read by text has the entry of a
// request id (Envoy flushes its file and its gRPC stream about every
// second).
func waitEntry(t *testing.T, text func() string, requestID string) map[string]any {
	t.Helper()
	return waitEntryWith(t, text, "request_id", requestID)
}

// waitEntryWith waits for the first entry whose key has the value.
func waitEntryWith(t *testing.T, text func() string, key, value string) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, 10*time.Second, func() error {
		for _, e := range accessEntries(text()) {
			if e[key] == value {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no access-log entry with %s %s yet", key, value)
	})
	return found
}

func readFile(t *testing.T, path string) func() string {
	return func() string {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return string(b)
	}
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

// checkEntry compares an entry with what the request and its reply show.
func checkEntry(t *testing.T, e map[string]any, want map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, xds.AccessLogFields()) {
		t.Errorf("entry keys %v, want %v", keys, xds.AccessLogFields())
	}
	for k, v := range want {
		if fmt.Sprint(e[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v (entry %v)", k, e[k], v, e)
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["timestamp"]))
	if err != nil || time.Since(ts) > time.Minute || time.Since(ts) < 0 {
		t.Errorf("timestamp %v is not a recent RFC 3339 time: %v", e["timestamp"], err)
	}
}

const observedRoutes = `
routes:
  - { name: list-orders, match: { path_prefix: /orders }, to: orders }
  - { name: get-user, match: { path_prefix: /users }, to: users }
`

func TestAccessLogEntriesCarryEveryField(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startObservedGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders", "users") + observedRoutes,
		"log.yaml":     "access_log: { path: " + logPath + " }\n",
	}, "/orders")

	headers := map[string]string{"x-demo-status": "201", "x-demo-delay": "30ms"}
	for k, v := range secretHeaders {
		headers[k] = v
	}
	body := `{"item":"book"}`
	ex := send(t, "POST", g.base+"/orders/42?api_key="+secretQuery, headers, body)
	if ex.status != 201 || ex.requestID == "" {
		t.Fatalf("status %d, request id %q: %s", ex.status, ex.requestID, ex.body)
	}
	m := traceparentRE.FindStringSubmatch(ex.reply.Headers["traceparent"])
	if m == nil {
		t.Fatalf("the service got traceparent %q", ex.reply.Headers["traceparent"])
	}
	e := waitEntry(t, readFile(t, logPath), ex.requestID)
	checkEntry(t, e, map[string]any{
		"client_id": nil, "client_ip": "127.0.0.1", "service": "orders", "route": "list-orders",
		"method": "POST", "path": "/orders/42", "status": 201, "bytes_received": len(body), "bytes_sent": len(ex.body),
		"trace_id": m[1], "response_flags": "-", "response_code_details": "via_upstream",
		"upstream_host": ex.reply.Instance,
	})
	if d, _ := e["duration_ms"].(float64); d < 30 || d > 5000 {
		t.Errorf("duration_ms = %v, want at least the 30ms the service took", e["duration_ms"])
	}

	// A request no route matches is logged too, with no service or route.
	if miss := send(t, "GET", g.base+"/nowhere", nil, ""); miss.status != 404 {
		t.Fatalf("/nowhere answered %d", miss.status)
	}
	e = waitEntryWith(t, readFile(t, logPath), "path", "/nowhere")
	checkEntry(t, e, map[string]any{"service": nil, "route": nil, "status": 404, "response_flags": "NR", "response_code_details": "route_not_found"})

	t.Run("over gRPC to Tollgate", func(t *testing.T) {
		writeFile(t, filepath.Join(g.dir, "log.yaml"), "access_log: { grpc: true }\n")
		eventually(t, 15*time.Second, func() error {
			ex = send(t, "GET", g.base+"/users/7?token="+secretQuery, secretHeaders, "")
			for _, e := range accessEntries(g.tollgate.log.String()) {
				if e["route"] == "get-user" {
					return nil
				}
			}
			return fmt.Errorf("no entry in Tollgate's output yet")
		})
		ex = send(t, "PUT", g.base+"/users/8", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "hello")
		e := waitEntry(t, g.tollgate.log.String, ex.requestID)
		checkEntry(t, e, map[string]any{
			"client_id": nil, "client_ip": "127.0.0.1", "service": "users", "route": "get-user",
			"method": "PUT", "path": "/users/8", "status": 200, "bytes_received": 5, "bytes_sent": len(ex.body),
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "response_flags": "-", "response_code_details": "via_upstream",
			"upstream_host": ex.reply.Instance,
		})
		if got := g.tollgate.metric(t, "tollgate_accesslog_entries_total"); got == "" || got == "0" {
			t.Errorf("tollgate_accesslog_entries_total = %q", got)
		}
	})

	t.Run("no secret in logs, metrics or debug pages", func(t *testing.T) {
		places := map[string]string{
			"Envoy's access log file": readFile(t, logPath)(),
			"Tollgate's output":       g.tollgate.log.String(),
		}
		for _, path := range []string{"/metrics", "/debug/config", "/debug/proxies"} {
			_, body, err := httpGet(g.tollgate.adminURL(path), nil)
			if err != nil {
				t.Fatal(err)
			}
			places["Tollgate "+path] = string(body)
		}
		_, body, err := httpGet(g.envoy.AdminURL()+"/stats/prometheus", nil)
		if err != nil {
			t.Fatal(err)
		}
		places["Envoy /stats/prometheus"] = string(body)
		for where, text := range places {
			if text == "" {
				t.Errorf("%s is empty: the check would prove nothing", where)
			}
			for _, secret := range []string{secretBearer, secretAPIKey, secretQuery} {
				if strings.Contains(text, secret) {
					t.Errorf("%s contains the secret %q", where, secret)
				}
			}
		}
	})
}

func TestTraceparentIsInjectedOrPreserved(t *testing.T) {
	t.Parallel()
	g := startObservedGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders", "users") + observedRoutes,
		"log.yaml":     "access_log: { disabled: true }\n",
	}, "/orders")

	// Without one, each request gets a new, valid trace context.
	seen := map[string]bool{}
	for range 3 {
		ex := send(t, "GET", g.base+"/orders", nil, "")
		m := traceparentRE.FindStringSubmatch(ex.reply.Headers["traceparent"])
		if ex.status != 200 || m == nil || m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
			t.Fatalf("status %d: the service got traceparent %q, want a valid W3C one", ex.status, ex.reply.Headers["traceparent"])
		}
		seen[m[1]] = true
	}
	if len(seen) != 3 {
		t.Errorf("3 requests without trace context got %d distinct trace ids", len(seen))
	}

	// With one, the trace id is the client's; the parent id is the
	// gateway's span, as W3C asks of a participating proxy.
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	sent := "00-" + traceID + "-" + parentID + "-01"
	ex := send(t, "GET", g.base+"/orders", map[string]string{"traceparent": sent}, "")
	m := traceparentRE.FindStringSubmatch(ex.reply.Headers["traceparent"])
	if m == nil || m[1] != traceID {
		t.Fatalf("the client sent %s; the service got %q, want the same trace id", sent, ex.reply.Headers["traceparent"])
	}
	if !strings.HasSuffix(ex.reply.Headers["traceparent"], "-01") {
		t.Errorf("the client's sampled flag was dropped: %s", ex.reply.Headers["traceparent"])
	}
	t.Logf("client sent %s, service got %s", sent, ex.reply.Headers["traceparent"])
}

// promSample returns the value of the Prometheus sample whose name is
// name and whose labels include every one of labels; -1 if none.
func promSample(text, name string, labels map[string]string) float64 {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			if rest, ok = strings.CutPrefix(line, name+" "); ok {
				if len(labels) == 0 {
					v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
					return v
				}
			}
			continue
		}
		lbl, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(","+lbl+",", ","+k+`="`+v+`",`) {
				match = false
			}
		}
		if match {
			v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v
		}
	}
	return -1
}

func TestPrometheusMetricsPerServiceAndRoute(t *testing.T) {
	t.Parallel()
	g := startObservedGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders", "users") + observedRoutes,
		"log.yaml":     "access_log: { disabled: true }\n",
	}, "/users")
	// The probe only touched /users: orders and list-orders start at 0.
	const ok, failed, users = 7, 3, 4
	for range ok {
		send(t, "GET", g.base+"/orders", nil, "")
	}
	for range failed {
		send(t, "GET", g.base+"/orders", map[string]string{"x-demo-status": "503"}, "")
	}
	for range users {
		send(t, "GET", g.base+"/users", nil, "")
	}
	envoyStats := func() string {
		_, body, err := httpGet(g.envoy.AdminURL()+"/stats/prometheus", nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	route := func(name string) map[string]string {
		return map[string]string{"envoy_virtual_host": "public", "envoy_route": name}
	}
	orders := map[string]string{"envoy_cluster_name": "orders"}
	// Histograms reach the admin page at Envoy's stats flush (5s).
	var text string
	eventually(t, 15*time.Second, func() error {
		text = envoyStats()
		if n := promSample(text, "envoy_vhost_route_upstream_rq_time_count", route("list-orders")); n != ok+failed {
			return fmt.Errorf("list-orders latency samples = %v, want %d", n, ok+failed)
		}
		return nil
	})
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"envoy_cluster_upstream_rq_total", orders, ok + failed},
		{"envoy_cluster_upstream_rq_xx", map[string]string{"envoy_cluster_name": "orders", "envoy_response_code_class": "5"}, failed},
		{"envoy_cluster_upstream_rq", map[string]string{"envoy_cluster_name": "orders", "envoy_response_code": "200"}, ok},
		{"envoy_cluster_upstream_rq_time_count", orders, ok + failed},
		{"envoy_vhost_route_upstream_rq_total", route("list-orders"), ok + failed},
		{"envoy_vhost_route_upstream_rq_xx", map[string]string{"envoy_route": "list-orders", "envoy_response_code_class": "5"}, failed},
		{"envoy_vhost_route_upstream_rq_xx", map[string]string{"envoy_route": "list-orders", "envoy_response_code_class": "2"}, ok},
		{"envoy_vhost_route_upstream_rq_time_count", route("list-orders"), ok + failed},
	}
	for _, c := range checks {
		if got := promSample(text, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// users got the probe's requests too: at least ours.
	if got := promSample(text, "envoy_vhost_route_upstream_rq_total", route("get-user")); got < users {
		t.Errorf("get-user requests = %v, want at least %d", got, users)
	}
	if got := promSample(text, "envoy_cluster_upstream_rq_time_bucket", map[string]string{"envoy_cluster_name": "orders", "le": "+Inf"}); got != ok+failed {
		t.Errorf("orders latency histogram +Inf bucket = %v, want %d", got, ok+failed)
	}

	// Tollgate's own metrics describe the control plane.
	_, body, err := httpGet(g.tollgate.adminURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := string(body)
	if got := promSample(tg, "tollgate_xds_connected_proxies", nil); got != 1 {
		t.Errorf("tollgate_xds_connected_proxies = %v, want 1", got)
	}
	if got := promSample(tg, "tollgate_xds_push_duration_seconds_count", map[string]string{"type_url": "type.googleapis.com/envoy.config.listener.v3.Listener"}); got < 1 {
		t.Errorf("listener push latency count = %v, want at least 1", got)
	}
	if got := promSample(tg, "tollgate_xds_pushes_total", map[string]string{"group": "default"}); got < 1 {
		t.Errorf("tollgate_xds_pushes_total{group=default} = %v, want at least 1", got)
	}
	if got := promSample(tg, `tollgate_policy_reloads_total`, map[string]string{"result": "applied"}); got != 1 {
		t.Errorf("applied reloads = %v, want 1", got)
	}
}

func TestEnvoyRejectionShowsInProxiesAndMetrics(t *testing.T) {
	t.Parallel()
	g := startObservedGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders", "users") + observedRoutes,
		"log.yaml":     "access_log: { disabled: true }\n",
	}, "/orders")

	// Tollgate cannot know Envoy's file system, so a log file in a
	// directory that does not exist passes validation; Envoy cannot open
	// it and rejects the listeners.
	missing := filepath.Join(t.TempDir(), "no-such-dir", "access.log")
	writeFile(t, filepath.Join(g.dir, "log.yaml"), "access_log: { path: "+missing+" }\n")

	const listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	var proxies []xds.ProxyStatus
	eventually(t, 15*time.Second, func() error {
		_, body, err := httpGet(g.tollgate.adminURL("/debug/proxies"), nil)
		if err != nil {
			return err
		}
		proxies = nil
		if err := json.Unmarshal(body, &proxies); err != nil {
			return err
		}
		if len(proxies) != 1 || proxies[0].LastNACK == nil {
			return fmt.Errorf("no NACK in /debug/proxies yet: %s", body)
		}
		return nil
	})
	p := proxies[0]
	if p.NodeID != g.envoy.NodeID() || p.Group != "default" {
		t.Errorf("proxy = %+v, want node %s in group default", p, g.envoy.NodeID())
	}
	if n := p.LastNACK; n.TypeURL != listenerType || !strings.Contains(n.Error, missing) || n.Version == "" {
		t.Errorf("last NACK = %+v, want the listeners with Envoy's error naming %s", n, missing)
	}
	if p.Acked[listenerType] == p.LastNACK.Version || p.Acked[listenerType] == "" {
		t.Errorf("acked listener version %q must be the previous one, not the rejected %q", p.Acked[listenerType], p.LastNACK.Version)
	}
	for _, typ := range []string{"route.v3.RouteConfiguration", "cluster.v3.Cluster"} {
		if p.Acked["type.googleapis.com/envoy.config."+typ] == "" {
			t.Errorf("no acked %s version: %+v", typ, p.Acked)
		}
	}
	// The rejected version is not sent again at once (before the fix in
	// xds/callbacks.go, Envoy received and rejected it ~1,400 times a
	// second), only re-offered with backoff (1 s, 2 s, ...).
	nack := `tollgate_xds_nacks_total{type_url="` + listenerType + `"}`
	time.Sleep(2 * time.Second)
	if got, _ := strconv.Atoi(g.tollgate.metric(t, nack)); got < 1 || got > 3 {
		t.Errorf("NACKs = %d about 2s after the first without a new policy, want 1 to 3 (re-offers with backoff)", got)
	}
	if got := g.tollgate.metric(t, `tollgate_xds_nacks_total{type_url="`+listenerType+`"}`); got == "" || got == "0" {
		t.Errorf("tollgate_xds_nacks_total for listeners = %q, want > 0", got)
	}
	if !strings.Contains(g.tollgate.log.String(), "Envoy rejected configuration") {
		t.Error("the NACK is not in Tollgate's log")
	}
	// Envoy keeps serving what it had, and takes the fixed policy.
	waitService(t, g.base+"/orders", nil, "orders")
	writeFile(t, filepath.Join(g.dir, "log.yaml"), "access_log: { path: "+filepath.Join(t.TempDir(), "access.log")+" }\n")
	eventually(t, 15*time.Second, func() error {
		_, body, err := httpGet(g.tollgate.adminURL("/debug/proxies"), nil)
		if err != nil {
			return err
		}
		var now []xds.ProxyStatus
		if err := json.Unmarshal(body, &now); err != nil || len(now) != 1 {
			return fmt.Errorf("/debug/proxies: %v %s", err, body)
		}
		if v := now[0].Acked[listenerType]; v == p.Acked[listenerType] || v == p.LastNACK.Version {
			return fmt.Errorf("listener version %s not yet the fixed one", v)
		}
		return nil
	})
}

// readFileOrEmpty is a file's content, or "" when it cannot be read.
func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
