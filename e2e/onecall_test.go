package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testenv"
)

// oneCallPolicy protects one route with every kind of limit: before_auth
// (with headers), per anonymous IP, per client (with headers), per user,
// and a shadow limit, so a sequence of requests crosses each of them.
// The placeholders are the limit_calls setting, Redis's address and the
// store's failure mode.
const oneCallPolicy = `
auth:
  api_keys: { file: keys/keys.yaml }
  jwt:
    - { issuer: https://idp.test, jwks_file: keys/jwks.json, audiences: [api] }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - name: orders
    match: { path_prefix: /orders }
    to: api
    auth: { accept: [anonymous, api_key, jwt] }
    rate_limits: [guard, per-anon, per-client, per-user, shadow-route]
rate_limits:
  guard: { stage: before_auth, key: [client_ip, route], fixed_window: { limit: 15, window: 1h }, headers: true }
  per-anon: { when: anonymous, key: [client_ip], fixed_window: { limit: 2, window: 1h } }
  per-client: { when: authenticated, key: [client_id], fixed_window: { limit: 3, window: 1h }, headers: true }
  per-user: { key: [user], sliding_window: { limit: 2, window: 1h } }
  shadow-route: { key: [route], fixed_window: { limit: 1, window: 1h }, shadow: true }
limit_calls: { one_call: %t }
rate_limit_store:
  # A generous deadline: a loaded test machine must not make a decision
  # fail open on one path and not on the other.
  redis: { address: %s, timeout: 500ms }
  on_failure: %s
`

// oneCallStack is one gateway: Tollgate on its own Redis, and an Envoy
// whose stdout is the access log.
type oneCallStack struct {
	base      string
	tg        *tollgate
	envoy     *envoy.Process
	accessLog *testenv.Buffer
	redis     *redistest.Server
}

// oneCallCredentials are the API keys and token signer both stacks of a
// comparison accept, so one request is the same request to each.
type oneCallCredentials struct {
	keys   map[string]string
	signer *authtest.Key
	kf     *authz.KeysFile
}

func newOneCallCredentials(t *testing.T) *oneCallCredentials {
	c := &oneCallCredentials{keys: map[string]string{}, signer: authtest.NewRSA("rsa-1"), kf: &authz.KeysFile{}}
	for _, id := range []string{"alice", "carol"} {
		plain, err := authz.AddKey(c.kf, authz.NewKeyOptions{ID: id}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c.keys[id] = plain
	}
	return c
}

func startOneCallStack(t *testing.T, creds *oneCallCredentials, oneCall bool, mode string) *oneCallStack {
	t.Helper()
	requireEnvoy(t)
	s := &oneCallStack{redis: redistest.Start(t)}
	addr := freeAddr(t)
	s.base = "http://" + addr
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    fmt.Sprintf(oneCallPolicy, oneCall, s.redis.Addr, mode),
	})
	if err := authz.WriteKeysFile(filepath.Join(dir, "keys", "keys.yaml"), creds.kf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "jwks.json"), authtest.JWKS(creds.signer), 0o644); err != nil {
		t.Fatal(err)
	}
	s.tg = startTollgateWith(t, dir)
	s.envoy, s.accessLog = startEnvoyKeepingStdout(t, s.tg.grpcAddr)
	waitService(t, s.base+"/health", nil, "api")
	return s
}

// oneCallStep is one kind of request, sent n times.
type oneCallStep struct {
	name    string
	headers map[string]string
	n       int
}

// answer is what a client sees of a response, with the values that
// depend on the clock (seconds until a window resets) apart.
type answer struct {
	status  int
	headers map[string][]string
	body    string
	timed   []int64
}

// comparedHeaders are the headers the two paths must agree on.
var comparedHeaders = []string{
	"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Policy", "Content-Type",
	"Www-Authenticate", "X-Envoy-Ratelimited",
}

// timedHeaders count seconds until a reset: two requests a few
// milliseconds apart may straddle a second.
var timedHeaders = []string{"RateLimit-Reset", "Retry-After"}

func ask(t *testing.T, url string, headers map[string]string) answer {
	t.Helper()
	req, err := newRequest("GET", url, headers, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, headers: map[string][]string{}}
	for _, h := range comparedHeaders {
		a.headers[h] = resp.Header.Values(h)
	}
	for _, h := range timedHeaders {
		for _, v := range resp.Header.Values(h) {
			n, _ := strconv.ParseInt(v, 10, 64)
			a.timed = append(a.timed, n)
		}
	}
	if resp.StatusCode != http.StatusOK {
		// The 429 body's retry_after_seconds is timed too.
		// and a denial's request_id is each Envoy's own.
		a.body = retryAfterField.ReplaceAllString(string(body), `"retry_after_seconds":N`)
		a.body = requestIDField.ReplaceAllString(a.body, `"request_id":"ID"`)
	}
	return a
}

// sameAnswer reports how two answers differ, or "".
func sameAnswer(fused, separate answer) string {
	if fused.status != separate.status || fused.body != separate.body || fmt.Sprint(fused.headers) != fmt.Sprint(separate.headers) {
		return fmt.Sprintf("one call: %d %v %q\ntwo calls: %d %v %q", fused.status, fused.headers, fused.body, separate.status, separate.headers, separate.body)
	}
	if len(fused.timed) != len(separate.timed) {
		return fmt.Sprintf("reset headers: one call %v, two calls %v", fused.timed, separate.timed)
	}
	for i := range fused.timed {
		if d := fused.timed[i] - separate.timed[i]; d < -1 || d > 1 {
			return fmt.Sprintf("reset headers: one call %v, two calls %v", fused.timed, separate.timed)
		}
	}
	return ""
}

// compareSteps sends each step to both stacks, request by request, and
// returns the statuses seen.
func compareSteps(t *testing.T, fused, separate *oneCallStack, steps []oneCallStep) string {
	t.Helper()
	var statuses []string
	for _, st := range steps {
		for i := range st.n {
			f, s := ask(t, fused.base+"/orders", st.headers), ask(t, separate.base+"/orders", st.headers)
			if diff := sameAnswer(f, s); diff != "" {
				t.Errorf("%s, request %d:\n%s", st.name, i+1, diff)
			}
			statuses = append(statuses, fmt.Sprint(f.status))
		}
	}
	return strings.Join(statuses, ",")
}

var (
	retryAfterField = regexp.MustCompile(`"retry_after_seconds":[0-9]+`)
	requestIDField  = regexp.MustCompile(`"request_id":"[^"]*"`)
)

// counters are a Tollgate's decision counters: every limit's verdicts
// (admitted, refused, shadow_refused, not_charged) and authz's results.
func (s *oneCallStack) counters(t *testing.T) []string {
	t.Helper()
	_, body, err := httpGet(s.tg.adminURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "tollgate_ratelimit_decisions_total{") || strings.HasPrefix(line, "tollgate_authz_decisions_total{") {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

// logFields are the access-log fields of the /orders requests that
// depend on the decision, in request order, once n of them are written.
func (s *oneCallStack) logFields(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	eventually(t, 10*time.Second, func() error {
		out = out[:0]
		for _, line := range strings.Split(s.accessLog.String(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil || e["route"] != "orders" {
				continue
			}
			out = append(out, fmt.Sprintf("status=%v rate_limit=%v client_id=%v", e["status"], e["rate_limit"], e["client_id"]))
		}
		if len(out) < n {
			return fmt.Errorf("%d of %d access-log lines", len(out), n)
		}
		return nil
	})
	return out
}

// rlsCalls is how many calls Envoy made to Tollgate's rate-limit service.
func (s *oneCallStack) rlsCalls(t *testing.T) int64 {
	v, _ := strconv.ParseInt(stat(t, s.envoy, "cluster.tollgate_ratelimit.upstream_rq_total"), 10, 64)
	return v
}

// oneCallSteps cross every limit: per-anon at the third anonymous
// request, per-client at alice's fourth, per-user at the JWT's third, two
// refusals by authentication, then guard (before_auth, 15 per IP), which
// counted every one of them, at carol's fourth; the shadow limit is over
// from the second admitted request on and refuses nothing.
func oneCallSteps(creds *oneCallCredentials) ([]oneCallStep, string) {
	token := creds.signer.Sign(authtest.Standard("https://idp.test", "api", "bob", ""))
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	key := func(id string) map[string]string { return map[string]string{"X-API-Key": creds.keys[id]} }
	steps := []oneCallStep{
		{"anonymous", nil, 3},
		{"API key", key("alice"), 4},
		{"JWT", bearer(token), 3},
		{"bad API key", map[string]string{"X-API-Key": "tg_alice_" + strings.Repeat("a", 32)}, 1},
		{"bad JWT", bearer(authtest.Tamper(token, authtest.Standard("https://idp.test", "api", "mallory", ""))), 1},
		{"API key until before_auth refuses", key("carol"), 4},
		{"API key after before_auth refused", key("alice"), 1},
	}
	return steps, "200,200,429,200,200,200,429,200,200,429,401,401,200,200,200,429,429"
}

// TestOneCallAnswersAsTheRateLimitFilters sends the same requests to a
// route served in one ext_authz call and to the same route served by
// ext_authz and the two rate-limit filters, through real Envoys and
// Redis: each answer (status, RateLimit-* and Retry-After headers, JSON
// bodies), the counters they leave, and the access log agree, while the
// one-call Envoy never calls the rate-limit service; the over-limit
// events agree too.
func TestOneCallAnswersAsTheRateLimitFilters(t *testing.T) {
	// Serial: two gateways, and every Redis decision within its deadline.
	creds := newOneCallCredentials(t)
	fused := startOneCallStack(t, creds, true, "fail_open")
	separate := startOneCallStack(t, creds, false, "fail_open")
	steps, want := oneCallSteps(creds)
	if got := compareSteps(t, fused, separate, steps); got != want {
		t.Errorf("statuses: %s\nwant:     %s", got, want)
	}
	if f, s := fused.counters(t), separate.counters(t); !slices.Equal(f, s) {
		t.Errorf("decision counters differ:\none call:\n%s\ntwo calls:\n%s", strings.Join(f, "\n"), strings.Join(s, "\n"))
	}
	n := strings.Count(want, ",") + 1
	if f, s := fused.logFields(t, n), separate.logFields(t, n); !slices.Equal(f, s) {
		t.Errorf("access logs differ:\none call:\n%s\ntwo calls:\n%s", strings.Join(f, "\n"), strings.Join(s, "\n"))
	}
	if got := fused.rlsCalls(t); got != 0 {
		t.Errorf("the one-call Envoy called the rate-limit service %d times", got)
	}
	if got := separate.rlsCalls(t); got == 0 {
		t.Error("the two-call Envoy never called the rate-limit service: the comparison compared nothing")
	}
	// The over-limit events, which Tollgate writes when it stops.
	if f, s := fused.events(t), separate.events(t); !slices.Equal(f, s) || len(f) == 0 {
		t.Errorf("over-limit events differ:\none call:\n%s\ntwo calls:\n%s", strings.Join(f, "\n"), strings.Join(s, "\n"))
	}
}

// events stops Tollgate, which flushes its over-limit event log, and
// returns the events without their times, sorted.
func (s *oneCallStack) events(t *testing.T) []string {
	t.Helper()
	s.tg.stop()
	var out []string
	for _, line := range strings.Split(s.tg.log.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil || e["log"] != "ratelimit_events" {
			continue
		}
		for _, k := range []string{"time", "first", "last"} {
			delete(e, k)
		}
		b, _ := json.Marshal(e) // sorted keys
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestOneCallAppliesTheStoreFailureMode stops Redis under both gateways
// and compares their answers in each failure mode: the one-call Check
// decides through the same failover store as the rate-limit service.
func TestOneCallAppliesTheStoreFailureMode(t *testing.T) {
	creds := newOneCallCredentials(t)
	key := map[string]string{"X-API-Key": creds.keys["alice"]}
	for mode, want := range map[string]string{
		"fail_open": "200,200,200,200,200,200,401",
		// before_auth refuses the bad key before authentication could.
		"fail_closed": "429,429,429,429,429,429,429",
		// Counted by this instance alone: the key's three, as if new.
		"grace": "200,200,200,429,200,200,401",
	} {
		t.Run(mode, func(t *testing.T) {
			fused := startOneCallStack(t, creds, true, mode)
			separate := startOneCallStack(t, creds, false, mode)
			// One decision with Redis up, counted in Redis.
			compareSteps(t, fused, separate, []oneCallStep{{"before the outage", key, 1}})
			fused.redis.Stop()
			separate.redis.Stop()
			got := compareSteps(t, fused, separate, []oneCallStep{
				{"API key", key, 4},
				{"anonymous", nil, 2},
				{"bad API key", map[string]string{"X-API-Key": "tg_alice_" + strings.Repeat("a", 32)}, 1},
			})
			if got != want {
				t.Errorf("statuses: %s, want %s", got, want)
			}
			if f, s := fused.counters(t), separate.counters(t); !slices.Equal(f, s) {
				t.Errorf("decision counters differ:\none call:\n%s\ntwo calls:\n%s", strings.Join(f, "\n"), strings.Join(s, "\n"))
			}
			if got := fused.rlsCalls(t); got != 0 {
				t.Errorf("the one-call Envoy called the rate-limit service %d times", got)
			}
		})
	}
}
