package ratelimiter

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

// The draft fields are parsed here with github.com/dunglas/httpsfv, an
// RFC 9651 parser independent of the serialiser under test.

// sfItem is one parsed member of a RateLimit or RateLimit-Policy list:
// its name and its integer parameters.
type sfItem struct {
	name   string
	params map[string]int64
}

// parseSFList parses a header value as an RFC 9651 List of String items
// with Integer parameters, failing the test on anything else.
func parseSFList(t *testing.T, field, value string) []sfItem {
	t.Helper()
	list, err := httpsfv.UnmarshalList([]string{value})
	if err != nil {
		t.Fatalf("%s: %q is not an RFC 9651 list: %v", field, value, err)
	}
	var out []sfItem
	for _, m := range list {
		it, ok := m.(httpsfv.Item)
		if !ok {
			t.Fatalf("%s: %q: member %v is not an item", field, value, m)
		}
		name, ok := it.Value.(string)
		if !ok {
			t.Fatalf("%s: %q: item %v is not a String", field, value, it.Value)
		}
		item := sfItem{name: name, params: map[string]int64{}}
		for _, k := range it.Params.Names() {
			v, _ := it.Params.Get(k)
			n, ok := v.(int64)
			if !ok {
				t.Fatalf("%s: %q: parameter %s=%v is not an Integer", field, value, k, v)
			}
			item.params[k] = n
		}
		out = append(out, item)
	}
	return out
}

// headerMap is a decision's headers by name; a name twice fails.
func headerMap(t *testing.T, d *Decision) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, x := range d.Headers() {
		if _, dup := h[x.Name]; dup {
			t.Fatalf("%s sent twice: %v", x.Name, d.Headers())
		}
		h[x.Name] = x.Value
	}
	return h
}

// itemsString writes parsed items compactly for comparison, parameters in
// the order given.
func itemsString(items []sfItem, params ...string) string {
	var parts []string
	for _, it := range items {
		s := strconv.Quote(it.name)
		for _, p := range params {
			if v, ok := it.params[p]; ok {
				s += ";" + p + "=" + strconv.FormatInt(v, 10)
			}
		}
		if len(it.params) > len(params) {
			s += ";…"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

const draftHeadersYAML = `
rate_limits:
  tight: { key: [client_ip], fixed_window: { limit: 2, window: 1m }, headers: true }
  bucket: { key: [client_ip], token_bucket: { rate: 10/s, burst: 20 }, headers: true }
  quiet: { key: [client_ip], sliding_window: { limit: 100, window: 1h } }
  watch: { key: [client_ip], fixed_window: { limit: 1, window: 1m }, shadow: true, headers: true }
  hidden: { key: [client_ip], fixed_window: { limit: 1, window: 1h } }
`

// TestDraftHeadersAreStructuredFields: by default RateLimit-Policy lists
// every applied limit that asks for headers (and a refusing one), and
// RateLimit the one closest to refusing, both as RFC 9651 lists of named
// items with the draft's parameters.
func TestDraftHeadersAreStructuredFields(t *testing.T) {
	s := newService(t, draftHeadersYAML, NewMemoryStore(newClock().Now), false, nil)
	ip := "10.0.0.1"
	all := func() *Decision {
		return decide(t, s, anon("tight", ip, "r"), anon("bucket", ip, "r"), anon("quiet", ip, "r"), anon("watch", ip, "r"))
	}
	wantPolicy := `"tight";q=2;w=60, "bucket";q=20;w=2`
	for i, wantR := range []int64{1, 0} {
		d := all()
		h := headerMap(t, d)
		if got := itemsString(parseSFList(t, "RateLimit-Policy", h["RateLimit-Policy"]), "q", "w"); got != wantPolicy {
			t.Errorf("request %d: RateLimit-Policy %q parses as %s, want %s", i+1, h["RateLimit-Policy"], got, wantPolicy)
		}
		rl := parseSFList(t, "RateLimit", h["RateLimit"])
		if len(rl) != 1 || rl[0].name != "tight" || rl[0].params["r"] != wantR || rl[0].params["t"] < 1 || rl[0].params["t"] > 60 || len(rl[0].params) != 2 {
			t.Errorf("request %d: RateLimit %q parses as %+v, want \"tight\";r=%d;t in 1..60", i+1, h["RateLimit"], rl, wantR)
		}
		for _, legacy := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
			if v, ok := h[legacy]; ok {
				t.Errorf("request %d: admitted response has %s: %q", i+1, legacy, v)
			}
		}
	}
	d := all()
	if d.Allowed {
		t.Fatal("third request admitted by tight (limit 2)")
	}
	h := headerMap(t, d)
	if got := itemsString(parseSFList(t, "RateLimit-Policy", h["RateLimit-Policy"]), "q", "w"); got != wantPolicy {
		t.Errorf("refusal: RateLimit-Policy parses as %s, want %s", got, wantPolicy)
	}
	rl := parseSFList(t, "RateLimit", h["RateLimit"])
	if len(rl) != 1 || rl[0].name != "tight" || rl[0].params["r"] != 0 || strconv.FormatInt(rl[0].params["t"], 10) != h["Retry-After"] {
		t.Errorf("refusal: RateLimit %q, want \"tight\";r=0;t=Retry-After (%s)", h["RateLimit"], h["Retry-After"])
	}
	if h["Content-Type"] != "application/json" || len(d.Body("")) == 0 {
		t.Errorf("refusal: Content-Type %q, body %q", h["Content-Type"], d.Body(""))
	}
}

// TestDraftHeadersNameARefusingLimitWithoutHeaders: a refusal always
// names the limit that refused, even one that does not ask for headers on
// admitted responses, next to those that do.
func TestDraftHeadersNameARefusingLimitWithoutHeaders(t *testing.T) {
	s := newService(t, draftHeadersYAML, NewMemoryStore(newClock().Now), false, nil)
	ip := "10.0.0.2"
	if h := decide(t, s, anon("hidden", ip, "r")).Headers(); h != nil {
		t.Fatalf("admitted by a limit without headers: got %v", h)
	}
	d := decide(t, s, anon("bucket", ip, "r"), anon("hidden", ip, "r"))
	if d.Allowed {
		t.Fatal("second request admitted by hidden (limit 1)")
	}
	h := headerMap(t, d)
	if got, want := itemsString(parseSFList(t, "RateLimit-Policy", h["RateLimit-Policy"]), "q", "w"), `"bucket";q=20;w=2, "hidden";q=1;w=3600`; got != want {
		t.Errorf("RateLimit-Policy %q parses as %s, want %s", h["RateLimit-Policy"], got, want)
	}
	if rl := parseSFList(t, "RateLimit", h["RateLimit"]); len(rl) != 1 || rl[0].name != "hidden" || rl[0].params["r"] != 0 {
		t.Errorf("RateLimit %q, want the refusing limit hidden with r=0", h["RateLimit"])
	}
}

// TestHeaderFormats: rate_limit_headers chooses the fields; Retry-After
// and the JSON body of a refusal stay in every format.
func TestHeaderFormats(t *testing.T) {
	for _, tc := range []struct {
		format        string
		admit, refuse []string
	}{
		{"draft", []string{"RateLimit", "RateLimit-Policy"}, []string{"Content-Type", "RateLimit", "RateLimit-Policy", "Retry-After"}},
		{"legacy", []string{"RateLimit-Limit", "RateLimit-Policy", "RateLimit-Remaining", "RateLimit-Reset"},
			[]string{"Content-Type", "RateLimit-Limit", "RateLimit-Policy", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"}},
		{"both", []string{"RateLimit", "RateLimit-Limit", "RateLimit-Policy", "RateLimit-Remaining", "RateLimit-Reset"},
			[]string{"Content-Type", "RateLimit", "RateLimit-Limit", "RateLimit-Policy", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"}},
		{"none", nil, []string{"Content-Type", "Retry-After"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			s := newService(t, draftHeadersYAML+"rate_limit_headers: "+tc.format+"\n", NewMemoryStore(newClock().Now), false, nil)
			ip := "10.0.0.3"
			admitted := decide(t, s, anon("tight", ip, "r"))
			decide(t, s, anon("tight", ip, "r"))
			refused := decide(t, s, anon("tight", ip, "r"))
			if !admitted.Allowed || refused.Allowed {
				t.Fatal("want the first admitted and the third refused")
			}
			for _, c := range []struct {
				d    *Decision
				want []string
			}{{admitted, tc.admit}, {refused, tc.refuse}} {
				h := headerMap(t, c.d)
				if got := sortedNames(h); strings.Join(got, " ") != strings.Join(c.want, " ") {
					t.Errorf("allowed=%v: headers %v, want %v", c.d.Allowed, got, c.want)
				}
				checkFormat(t, tc.format, h)
			}
			if len(refused.Body("")) == 0 {
				t.Error("refusal without its JSON body")
			}
		})
	}
}

// checkFormat checks the values of the fields a format sends: the legacy
// trio and draft-06 policy as before, the draft fields as Structured
// Fields.
func checkFormat(t *testing.T, format string, h map[string]string) {
	t.Helper()
	if _, ok := h["RateLimit-Limit"]; ok && h["RateLimit-Limit"] != "2" {
		t.Errorf("RateLimit-Limit %q, want 2", h["RateLimit-Limit"])
	}
	switch format {
	case "legacy":
		if h["RateLimit-Policy"] != `2;w=60;name="tight"` {
			t.Errorf("legacy RateLimit-Policy %q", h["RateLimit-Policy"])
		}
	case "draft", "both":
		if got := itemsString(parseSFList(t, "RateLimit-Policy", h["RateLimit-Policy"]), "q", "w"); got != `"tight";q=2;w=60` {
			t.Errorf("RateLimit-Policy parses as %s", got)
		}
		if rl := parseSFList(t, "RateLimit", h["RateLimit"]); len(rl) != 1 || rl[0].name != "tight" {
			t.Errorf("RateLimit %q", h["RateLimit"])
		}
		if r, ok := h["RateLimit-Remaining"]; ok && !strings.Contains(h["RateLimit"], ";r="+r+";") {
			t.Errorf("both: RateLimit %q and RateLimit-Remaining %q disagree", h["RateLimit"], r)
		}
	}
}

func sortedNames(h map[string]string) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestSFString: names are sf-strings; '"' and '\' are escaped and a
// character an sf-string cannot hold is replaced, so that the field always
// parses (policy validation keeps limit names to plain ASCII anyway).
func TestSFString(t *testing.T) {
	for in, want := range map[string]string{
		"per-client": "per-client",
		`a"b\c`:      `a"b\c`,
		"caf\u00e9":  "caf??",
		"tab\there":  "tab?here",
		"":           "",
	} {
		b := appendSFString(nil, in)
		it, err := httpsfv.UnmarshalItem([]string{string(b) + ";q=1"})
		if err != nil {
			t.Errorf("%q serialised as %s: %v", in, b, err)
			continue
		}
		if it.Value != want {
			t.Errorf("%q serialised as %s, parses as %q, want %q", in, b, it.Value, want)
		}
	}
}

// TestSFInteger: parameters stay within RFC 9651's fifteen digits.
func TestSFInteger(t *testing.T) {
	for in, want := range map[int64]int64{0: 0, 42: 42, -5: 0, 1 << 62: maxSFInteger} {
		b := appendSFParam(nil, "q", in)
		it, err := httpsfv.UnmarshalItem([]string{`"x"` + string(b)})
		if err != nil {
			t.Errorf("%d serialised as %s: %v", in, b, err)
			continue
		}
		if v, _ := it.Params.Get("q"); v != want {
			t.Errorf("%d serialised as %s, parses as %v, want %d", in, b, v, want)
		}
	}
}

// BenchmarkHeaders builds the headers of an admitted decision over two
// limits that ask for them, in the draft format and, as the baseline of
// the same process, in the legacy format Tollgate sent before.
func BenchmarkHeaders(b *testing.B) {
	for _, format := range []string{"legacy", "draft"} {
		b.Run(format, func(b *testing.B) {
			s := newService(b, draftHeadersYAML+"rate_limit_headers: "+format+"\n", NewMemoryStore(newClock().Now), false, nil)
			d := decide(b, s, anon("bucket", "10.0.0.9", "r"), anon("quiet", "10.0.0.9", "r"), anon("tight", "10.0.0.9", "r"))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if len(d.Headers()) == 0 {
					b.Fatal("no headers")
				}
			}
		})
	}
}

// TestRefusalBodyFields: the 429 body carries the request id when there
// is one, and the fields Envoy rebuilds it from (BodyFields) are the
// body's own but the id, so both paths can send the same bytes.
func TestRefusalBodyFields(t *testing.T) {
	s := newService(t, draftHeadersYAML, NewMemoryStore(newClock().Now), false, nil)
	var d *Decision
	for range 3 {
		d = decide(t, s, anon("tight", "10.0.0.9", "r"))
	}
	if d.Allowed {
		t.Fatal("third request admitted by tight (limit 2)")
	}
	var with, without map[string]any
	if err := json.Unmarshal(d.Body("req-1"), &with); err != nil || with["request_id"] != "req-1" {
		t.Errorf("Body(req-1) = %s (%v), want request_id req-1", d.Body("req-1"), err)
	}
	if err := json.Unmarshal(d.Body(""), &without); err != nil || without["request_id"] != nil {
		t.Errorf("Body(\"\") = %s (%v), want no request_id", d.Body(""), err)
	}
	fields, _ := json.Marshal(d.BodyFields())
	if string(fields)+"\n" != string(d.Body("")) {
		t.Errorf("BodyFields %s, want Body's %s", fields, d.Body(""))
	}
}
