package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// sfItem is one member of a RateLimit or RateLimit-Policy list as an
// independent RFC 9651 parser (github.com/dunglas/httpsfv, not Tollgate's
// serialiser) reads it: a String name and Integer parameters.
type sfItem struct {
	Name   string
	Params map[string]int64
}

// String writes the item with its parameters in the order the draft
// lists them, so tests compare one string.
func (it sfItem) String() string {
	s := strconv.Quote(it.Name)
	for _, k := range []string{"q", "w", "r", "t"} {
		if v, ok := it.Params[k]; ok {
			s += fmt.Sprintf(";%s=%d", k, v)
		}
	}
	if extra := len(it.Params) - strings.Count(s, "="); extra > 0 {
		s += fmt.Sprintf(";+%d more", extra)
	}
	return s
}

// sfList parses every line of a response header field as one RFC 9651
// List of String items with Integer parameters (field lines combine, as
// RFC 9651 says for lists), failing the test on anything else.
func sfList(t *testing.T, h http.Header, field string) []sfItem {
	t.Helper()
	lines := h.Values(field)
	if len(lines) == 0 {
		t.Errorf("no %s field in %v", field, h)
		return nil
	}
	list, err := httpsfv.UnmarshalList(lines)
	if err != nil {
		t.Errorf("%s %q is not an RFC 9651 list: %v", field, lines, err)
		return nil
	}
	var out []sfItem
	for _, m := range list {
		it, ok := m.(httpsfv.Item)
		name, isString := it.Value.(string)
		if !ok || !isString {
			t.Errorf("%s %q: member %v is not a String item", field, lines, m)
			continue
		}
		item := sfItem{Name: name, Params: map[string]int64{}}
		for _, k := range it.Params.Names() {
			v, _ := it.Params.Get(k)
			n, isInt := v.(int64)
			if !isInt {
				t.Errorf("%s %q: parameter %s=%v is not an Integer", field, lines, k, v)
			}
			item.Params[k] = n
		}
		out = append(out, item)
	}
	return out
}

// sfListString is sfList written compactly: `"a";q=1;w=2, "b";...`.
func sfListString(t *testing.T, h http.Header, field string) string {
	t.Helper()
	var parts []string
	for _, it := range sfList(t, h, field) {
		parts = append(parts, it.String())
	}
	return strings.Join(parts, ", ")
}

// checkRateLimit checks a RateLimit field of one item: the named limit
// with r remaining and 1 <= t <= maxT seconds; it returns t.
func checkRateLimit(t *testing.T, h http.Header, name string, r, maxT int64) int64 {
	t.Helper()
	items := sfList(t, h, "RateLimit")
	if len(items) != 1 {
		t.Errorf("RateLimit %q: want one item, for %s", h.Values("RateLimit"), name)
		return 0
	}
	it := items[0]
	if it.Name != name || it.Params["r"] != r || it.Params["t"] < 1 || it.Params["t"] > maxT || len(it.Params) != 2 {
		t.Errorf("RateLimit parses as %s, want %q;r=%d;t in 1..%d", it, name, r, maxT)
	}
	return it.Params["t"]
}

// checkRefusal checks what every 429 carries whatever the header format:
// Retry-After, and a JSON body naming the limit.
func checkRefusal(t *testing.T, resp *http.Response, body []byte, limit string) {
	t.Helper()
	if resp.StatusCode != 429 {
		t.Fatalf("status %d, want 429: %s", resp.StatusCode, body)
	}
	var reply struct{ Error, Limit string }
	if err := json.Unmarshal(body, &reply); err != nil || reply.Error != "rate_limited" || reply.Limit != limit || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body %s (%v), Content-Type %q: want the JSON refusal naming %s", body, err, resp.Header.Get("Content-Type"), limit)
	}
	if _, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil {
		t.Errorf("Retry-After %q: %v", resp.Header.Get("Retry-After"), err)
	}
}

// rateLimitHeadersPolicy: /paced has two after_auth limits asking for
// headers (a token bucket of 2, earned back at 1/h, and a daily quota), a
// third that does not, and a shadow one; /guarded has a before_auth limit.
// Counters live in memory (no rate_limit_store).
const rateLimitHeadersPolicy = `
routes:
  - { name: paced, match: { path_prefix: /paced }, to: api, rate_limits: [burst, daily, silent, watch] }
  - { name: guarded, match: { path_prefix: /guarded }, to: api, rate_limits: [guard] }
  - { name: probe, match: { path_prefix: /probe }, to: api, rate_limits: [roomy] }
  - { name: staged, match: { path_prefix: /staged }, to: api, rate_limits: [early, late] }
rate_limits:
  burst: { key: [client_ip, route], token_bucket: { rate: 1/h, burst: 2 }, headers: true }
  daily: { key: [client_ip, route], fixed_window: { limit: 100, window: 24h }, headers: true }
  silent: { key: [client_ip, route], fixed_window: { limit: 50, window: 1h } }
  watch: { key: [client_ip, route], fixed_window: { limit: 1, window: 1h }, shadow: true, headers: true }
  guard: { stage: before_auth, key: [client_ip, route], fixed_window: { limit: 2, window: 1h }, headers: true }
  roomy: { key: [client_ip, route], fixed_window: { limit: 1000, window: 1h }, headers: true }
  early: { stage: before_auth, key: [client_ip, route], fixed_window: { limit: 10, window: 1h }, headers: true }
  late: { key: [client_ip, route], fixed_window: { limit: 5, window: 1h }, headers: true }
`

// TestRateLimitHeadersThroughEnvoy: through a real Envoy, admitted and
// refused responses carry RateLimit-Policy and RateLimit as the current
// draft defines them, after and before authentication; switching the
// policy to rate_limit_headers: legacy brings back the draft-06 fields.
func TestRateLimitHeadersThroughEnvoy(t *testing.T) {
	t.Parallel()
	requireEnvoy(t)
	addr := freeAddr(t)
	base := "http://" + addr
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    rateLimitHeadersPolicy,
	})
	tg := startTollgateWith(t, dir)
	startEnvoy(t, tg.grpcAddr, "", false)
	waitService(t, base+"/probe", nil, "api")

	t.Run("after auth: admitted and 429", func(t *testing.T) {
		const policies = `"burst";q=2;w=7200, "daily";q=100;w=86400`
		for i, r := range []int64{1, 0} {
			resp, body := get(t, base+"/paced", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
			}
			if got := sfListString(t, resp.Header, "RateLimit-Policy"); got != policies {
				t.Errorf("request %d: RateLimit-Policy %q parses as %s, want %s", i+1, resp.Header.Values("RateLimit-Policy"), got, policies)
			}
			checkRateLimit(t, resp.Header, "burst", r, 7200)
			if v := resp.Header.Get("RateLimit-Remaining"); v != "" {
				t.Errorf("draft format sends the legacy RateLimit-Remaining: %q", v)
			}
		}
		resp, body := get(t, base+"/paced", nil)
		checkRefusal(t, resp, body, "burst")
		if got := sfListString(t, resp.Header, "RateLimit-Policy"); got != policies {
			t.Errorf("429: RateLimit-Policy parses as %s, want %s", got, policies)
		}
		if tt := checkRateLimit(t, resp.Header, "burst", 0, 3600); strconv.FormatInt(tt, 10) != resp.Header.Get("Retry-After") {
			t.Errorf("429: RateLimit t=%d, Retry-After %q: want equal", tt, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("before auth: admitted and 429", func(t *testing.T) {
		for i, r := range []int64{1, 0} {
			resp, body := get(t, base+"/guarded", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
			}
			if got, want := sfListString(t, resp.Header, "RateLimit-Policy"), `"guard";q=2;w=3600`; got != want {
				t.Errorf("request %d: RateLimit-Policy parses as %s, want %s", i+1, got, want)
			}
			checkRateLimit(t, resp.Header, "guard", r, 3600)
		}
		resp, body := get(t, base+"/guarded", nil)
		checkRefusal(t, resp, body, "guard")
		if got, want := sfListString(t, resp.Header, "RateLimit-Policy"), `"guard";q=2;w=3600`; got != want {
			t.Errorf("429: RateLimit-Policy parses as %s, want %s", got, want)
		}
		checkRateLimit(t, resp.Header, "guard", 0, 3600)
	})

	// Each stage's filter adds its own fields; their lines combine into
	// one list, as RFC 9651 defines for List fields.
	t.Run("both stages: one list per field", func(t *testing.T) {
		resp, body := get(t, base+"/staged", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		policies, limits := sfList(t, resp.Header, "RateLimit-Policy"), sfList(t, resp.Header, "RateLimit")
		slices.SortFunc(policies, func(a, b sfItem) int { return strings.Compare(a.Name, b.Name) })
		slices.SortFunc(limits, func(a, b sfItem) int { return strings.Compare(a.Name, b.Name) })
		if got, want := fmt.Sprint(policies), `["early";q=10;w=3600 "late";q=5;w=3600]`; got != want {
			t.Errorf("RateLimit-Policy %q parses as %s, want %s", resp.Header.Values("RateLimit-Policy"), got, want)
		}
		if len(limits) != 2 || limits[0].Name != "early" || limits[0].Params["r"] != 9 || limits[1].Name != "late" || limits[1].Params["r"] != 4 {
			t.Errorf("RateLimit %q parses as %v, want early r=9 and late r=4", resp.Header.Values("RateLimit"), limits)
		}
	})

	t.Run("legacy switch gives the trio", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "30-policy.yaml"), rateLimitHeadersPolicy+"rate_limit_headers: legacy\n")
		eventually(t, 15*time.Second, func() error {
			resp, _ := get(t, base+"/probe", nil)
			if resp.Header.Get("RateLimit-Limit") != "1000" || resp.Header.Get("RateLimit") != "" {
				return fmt.Errorf("not yet legacy: %v", resp.Header)
			}
			return nil
		})
		for _, tc := range []struct{ path, limit, max, policy string }{
			{"/paced", "burst", "2", `2;w=7200;name="burst"`},
			{"/guarded", "guard", "2", `2;w=3600;name="guard"`},
		} {
			resp, body := get(t, base+tc.path, nil)
			checkRefusal(t, resp, body, tc.limit)
			for h, want := range map[string]string{"RateLimit-Limit": tc.max, "RateLimit-Remaining": "0", "RateLimit-Policy": tc.policy, "RateLimit": ""} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %s %q, want %q", tc.path, h, got, want)
				}
			}
			if _, err := strconv.Atoi(resp.Header.Get("RateLimit-Reset")); err != nil {
				t.Errorf("%s: RateLimit-Reset %q: %v", tc.path, resp.Header.Get("RateLimit-Reset"), err)
			}
		}
	})
}
