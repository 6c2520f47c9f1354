package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/policy"
)

// diffRoutes is checkRoutes, a route for every kind of condition, and
// three more (admin's and limited's prefixes are disjoint from every
// earlier route's, so their place does not change what is taken;
// limited's request limits answer 405 and 415 before it); each sends to its
// own raw upstream named like it, so that the answer names the route
// Envoy chose. "all" takes what the others leave when the request carries
// x-catch, and echoes the path as Envoy normalized it.
const diffRoutes = checkRoutes + `  - { name: admin, match: { path_prefix: /admin/ }, to: admin }
  - { name: limited, match: { path_prefix: /lim/ }, to: limited, request_limits: { methods: [GET, POST, PUT], content_types: [application/json, text/*] } }
  - { name: all, match: { headers: [{ name: x-catch, present: true }] }, to: all }
`

// diffListeners answer for every host, for two names, for a name with a
// port (then every host must match with its port), and for every host
// over TLS (where absolute targets of either scheme are taken).
const diffListeners = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
  - { name: named, address: 127.0.0.1, port: {{NAMED}}, hosts: [api.example.com, "*.example.org"] }
  - { name: ported, address: 127.0.0.1, port: {{PORTED}}, hosts: ["ported.example.com:8443"] }
  - { name: secure, address: 127.0.0.1, port: {{SECURE}}, tls: { certificates: [{ cert: a.pem, key: a-key.pem }] } }
`

var diffServices = []string{"exact", "regex", "host", "host-port", "method", "header-exact", "header-regex", "header-present",
	"header-absent", "query-exact", "query-regex", "query-present", "query-absent", "admin", "limited", "prefix", "all"}

// TestDifferentialRoutingAgreesWithEnvoy sends thousands of generated
// requests, as raw bytes (malformed ones too), to a real Envoy and asks
// policy.ParseRequest and Policy.Decide, which `tollgate check` runs, what
// Envoy does with each: route (and the path the service receives),
// redirect, or Envoy's own answer. Every request must agree. First, the
// requests that once steered Envoy to a route they should not reach must
// not reach it.
//
// TOLLGATE_DIFF_SEED replays a run (the seed is printed on failure);
// TOLLGATE_DIFF_N changes the number of generated requests (3000).
func TestDifferentialRoutingAgreesWithEnvoy(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TOLLGATE_DIFF_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	n := 3000
	if s := os.Getenv("TOLLGATE_DIFF_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	addrs, tlsConfig, p := startDifferentialGateway(t)
	t.Run("ClientCannotSteerRoutes", func(t *testing.T) {
		c := &rawConn{addr: addrs["public"]}
		defer c.close()
		for _, s := range steeringRequests {
			a, err := c.do("GET", []byte(s.raw))
			if err != nil || a.Route == s.notRoute {
				t.Errorf("%q: Envoy answered %s, must not take route %s", s.raw, envoyOutcome(a, err), s.notRoute)
			}
		}
	})
	var requests []diffRequest
	for _, raw := range nastyRequests() {
		requests = append(requests, diffRequest{"public", raw})
	}
	for _, s := range steeringRequests {
		requests = append(requests, diffRequest{"public", s.raw})
	}
	for _, raw := range []string{ // absolute targets over TLS: either scheme is taken
		"GET https://a.example.org/h HTTP/1.1\r\nHost: evil.com\r\n\r\n",
		"GET http://api.example.com/h HTTP/1.1\r\nHost: evil.com\r\n\r\n",
		"GET https://a.example.org/h HTTP/1.0\r\n\r\n",
	} {
		requests = append(requests, diffRequest{"secure", raw})
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for _, raw := range generateRequests(rng, n) {
		requests = append(requests, diffRequest{[]string{"public", "public", "named", "ported", "secure"}[rng.IntN(5)], raw})
	}
	disagree, outcomes := sendDifferential(t, addrs, tlsConfig, p, requests)
	t.Logf("seed %d; Envoy's answers: %v", seed, outcomes)
	// The vocabulary must keep reaching routes and Envoy's refusals, or
	// agreement means little. Both bounds are far below what any seed gives
	// (about 27% routed, 30% refused with 400).
	if outcomes["route"] < len(requests)/10 || outcomes["400"] < len(requests)/100 {
		t.Errorf("seed %d: too few routed (%d) or refused (%d) requests of %d", seed, outcomes["route"], outcomes["400"], len(requests))
	}
	if len(disagree) == 0 {
		return
	}
	t.Errorf("%d of %d requests: tollgate check and Envoy disagree (seed %d: TOLLGATE_DIFF_SEED=%d go test -run TestDifferentialRoutingAgreesWithEnvoy ./e2e/)",
		len(disagree), len(requests), seed, seed)
	for i, d := range disagree {
		if i == 40 {
			t.Errorf("... and %d more", len(disagree)-i)
			break
		}
		t.Error(d)
	}
}

// startDifferentialGateway starts Tollgate and Envoy with diffRoutes on
// the listeners of diffListeners, one raw upstream per route, and returns
// each listener's address, the TLS client settings of the secure one and
// the policy as check loads it.
func startDifferentialGateway(t *testing.T) (map[string]string, *tls.Config, *policy.Policy) {
	var svc strings.Builder
	svc.WriteString("services:\n")
	for _, name := range diffServices {
		fmt.Fprintf(&svc, "  %s: { endpoints: [%s] }\n", name, rawUpstream(t, name))
	}
	ca := mustCA(t, "tollgate-differential-ca")
	cert := mustIssue(t, ca, testcerts.Options{CommonName: "a.example.com", DNSNames: []string{"a.example.com"}})
	addrs := map[string]string{"named": freeAddr(t), "ported": freeAddr(t), "secure": freeAddr(t)}
	listeners := strings.NewReplacer("{{NAMED}}", port(addrs["named"]), "{{PORTED}}", port(addrs["ported"]),
		"{{SECURE}}", port(addrs["secure"])).Replace(diffListeners)
	g := startGateway(t, map[string]string{"10-listeners.yaml": listeners, "20-services.yaml": svc.String(), "30-routes.yaml": diffRoutes,
		"a.pem": string(cert.CertPEM), "a-key.pem": string(cert.KeyPEM)}, false, "/api/probe", "")
	addrs["public"] = strings.TrimPrefix(g.base, "http://")
	waitService(t, "http://"+addrs["named"]+"/api/probe", map[string]string{"Host": "api.example.com"}, "")
	waitService(t, "http://"+addrs["ported"]+"/api/probe", map[string]string{"Host": "ported.example.com:8443"}, "")
	waitTLS(t, tlsClient(ca.Pool(), "a.example.com", nil), "https://"+addrs["secure"]+"/api/probe")
	p, err := policy.Load(g.dir)
	if err != nil {
		t.Fatal(err)
	}
	// HTTP/1.1 only: the requests are HTTP/1 bytes.
	return addrs, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", NextProtos: []string{"http/1.1"}}, p
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// diffRequest is a raw request and the listener it is sent to.
type diffRequest struct{ listener, raw string }

// sendDifferential sends every request over a few kept connections per
// listener and returns a line per disagreement.
func sendDifferential(t *testing.T, addrs map[string]string, tlsConfig *tls.Config, p *policy.Policy, requests []diffRequest) ([]string, map[string]int) {
	const workers = 4
	var (
		mu       sync.Mutex
		disagree []string
		outcomes = map[string]int{}
		wg       sync.WaitGroup
	)
	next := make(chan diffRequest)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns := map[string]*rawConn{}
			for l, addr := range addrs {
				conns[l] = &rawConn{addr: addr}
				if l == "secure" {
					conns[l].tls = tlsConfig
				}
				defer conns[l].close()
			}
			for r := range next {
				method := strings.FieldsFunc(r.raw, func(c rune) bool { return c == ' ' || c == '\t' })[0]
				a, err := conns[r.listener].do(method, []byte(r.raw))
				envoySaw := envoyOutcome(a, err)
				checkSaw := checkOutcome(p, r.listener, r.raw)
				mu.Lock()
				outcomes[strings.Fields(envoySaw)[0]]++
				if envoySaw != checkSaw {
					disagree = append(disagree, fmt.Sprintf("listener %s, %.300q:\n\tEnvoy: %s\n\tcheck: %s", r.listener, r.raw, envoySaw, checkSaw))
				}
				mu.Unlock()
			}
		}()
	}
	for _, raw := range requests {
		next <- raw
	}
	close(next)
	wg.Wait()
	return disagree, outcomes
}

// envoyOutcome says what Envoy did: "route NAME PATH", "307 LOCATION" or
// its own status.
func envoyOutcome(a rawAnswer, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case a.Route != "":
		return "route " + a.Route + " " + a.Target
	case a.Status == 307:
		return "307 " + a.Location
	}
	return strconv.Itoa(a.Status)
}

// checkOutcome says the same from the logic of `tollgate check`.
func checkOutcome(p *policy.Policy, listener, raw string) string {
	r, err := policy.ParseRequest([]byte(raw), listener == "secure")
	var refused *policy.Refusal
	if errors.As(err, &refused) {
		return strconv.Itoa(refused.Status)
	}
	r.Listener = listener
	d := p.Decide(r)
	switch {
	case d.Redirect:
		return "307 " + d.Path
	case d.Route != nil && d.Status == 0:
		return "route " + d.Route.Name + " " + d.Path
	}
	return strconv.Itoa(d.Status) // Envoy's own answer, or the route's request limits'

}

// steeringRequests must not take a route, whatever check says: agreeing
// with Envoy is not enough when both would be wrong (they share the
// expressions xds sends).
var steeringRequests = []struct{ raw, notRoute string }{
	{"GET /hdr HTTP/1.1\r\nHost: x\r\nx-tenant: evil\r\nx-tenant: acme\r\n\r\n", "header-exact"},
	{"GET /hdr HTTP/1.1\r\nHost: x\r\nx-tenant: acme\r\nx-tenant: evil\r\n\r\n", "header-exact"},
	{"GET /h HTTP/1.1\r\nHost: evil.com:a.example.org\r\n\r\n", "host"},
	{"GET /h HTTP/1.1\r\nHost: evil.com\r\nHost: api.example.com\r\n\r\n", "host"},
	{"GET http://evil.com/h HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "host"},
}

// nastyRequests are the cases a differential run found mispredicted, each
// once, whatever the seed.
func nastyRequests() []string {
	req := func(line string, headers ...string) string {
		return line + "\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n"
	}
	host := "Host: x"
	out := []string{
		req("GET /hdr HTTP/1.1", host, "x-tenant: evil", "x-tenant: acme"),
		req("GET /hdr HTTP/1.1", host, "x-tenant: acme", "X-Tenant: evil"),
		req("GET /hdr HTTP/1.1", host, "x-tenant: acme", "x-tenant: acme"),
		req("GET /hdr HTTP/1.1", host, "x-tenant: evil,acme"),
		req("GET /hdr HTTP/1.1", host, "x-version: v3", "x-version: v1"),
		req("GET /h HTTP/1.1", "Host: evil.com:a.example.org"),
		req("GET /h HTTP/1.1", "Host: evil.com", "Host: api.example.com"),
		req("GET /h HTTP/1.1", "Host: api.example.com", "Host: api.example.com"),
		req("GET http://api.example.com/h HTTP/1.1", "Host: evil.com"),
		req("GET http://evil.com/h HTTP/1.1", "Host: api.example.com"),
		req("GET http://api.example.com?x=1 HTTP/1.1", host, "x-catch: 1"),
		req("GET https://api.example.com/h HTTP/1.1", host),
		req("GET /x/..;x/exact HTTP/1.1", host),
		req("GET /.;x/exact HTTP/1.1", host),
		req("GET /exact/..;x HTTP/1.1", host, "x-catch: 1"),
		req("GET //exact HTTP/1.1", host),
		req("GET /%%32%65/exact HTTP/1.1", host, "x-catch: 1"),
		req("GET /x/%%32%65%%32%65/exact HTTP/1.1", host, "x-catch: 1"),
		req("GET /exact\tHTTP/1.1", host),
		req("GET /exact HTTP/1.1\t", host),
		req("GET /h HTTP/1.1", "Host: api.example.com.:80"),
		req("GET /p HTTP/1.1", "Host: ported.example.com.:8443"),
		req("GET /exact#frag HTTP/1.1", host),
		req("GET /exact HTTP/1.1", host, "x_a: 1"),
		req("GET /exact HTTP/1.0", host),
		req("get /exact HTTP/1.1", host),
		req("Get /exact HTTP/1.1", host),
		req("GET /caf\xc3\xa9 HTTP/1.1", host),
		req("GET /api/"+strings.Repeat("a", 70<<10)+" HTTP/1.1", host),
		req("GET /admin%2f HTTP/1.1", host),
		req("GET /public/..%2Fadmin/x HTTP/1.1", host),
	}
	return out
}

// The generator's vocabulary: segments, hosts and headers that reach
// every route, and the edge cases of Envoy's parsing and normalization.
// Each list has a rare part that Envoy refuses, picked one time in
// rareOneIn, so that most requests still reach the routing decision.
var (
	diffSegments = []string{"exact", "EXACT", "Exact", "items", "42", "42x", "h", "p", "m", "hdr", "q", "qa", "api", "Api",
		"admin", "ADMIN", "lim", "LIM", "x", "..", ".", "..;x", ".;x", "..;", "%2e", "%2E%2e", ".%2e", "%2e.;x", "%2f", "%2F", "%5C", "%5c",
		"%%32%65", "%%30%30", "%2%35", "%%2e", "%zz", "%65xact", "%41pi", "", ";p", "a;b", "~", "%7E", "a|b", "{x}", "%C3%A9",
		"%34%32", "%69tems", "hdr;x", "exact;", "exact.", "exact%20", "EXACT%2e", "%2e%2e%2f", "%252e", "*", "a+b", "@", "a:b"}
	diffRareSegments = []string{"%00", "é", "\x01", "\x7f", "a#b"}
	diffHosts        = []string{"x", "api.example.com", "API.Example.COM", "api.example.com:8080", "api.example.com.", "api.example.com..",
		"api.example.com.:80", "a.b.example.org", "example.org", ".example.org", "evil.com:a.example.org", "evil.com:1.example.org",
		"ported.example.com:8443", "ported.example.com", "ported.example.com.:8443", "ported.example.com:8443.", "a.example.org.:80",
		"a.example.org:", "", "[::1]:80", "x_y", "api.example.com:abc", "PORTED.example.com:8443", "a.example.org:8443",
		"A.EXAMPLE.ORG", "api.example.com:08080", "API.EXAMPLE.COM.", "*.example.org", "ported.example.com:08443", "[::1]",
		"1.2.3.4:80", "ported.example.com:8443:1", "user@api.example.com", "api.example.com%2e", "xn--caf-dma.example.org"}
	diffRareHosts = []string{"é.example.org", "a/b", "x y"}
	diffQueries   = []string{"mode=fast", "mode=slow", "id=123", "id=12a", "debug", "debug=1", "trace", "trace=1", "x=1",
		"a=%2F", "mode=fast&mode=slow", "", "q=%C3%A9", "%6Dode=fast", "mode=fas%74", "mode=FAST", "Mode=fast", "id=%31%32",
		"id=", "debug=", "trace%3D1", "&mode=fast", "mode=fast&", "x=1&&id=5", "id=1+2", "id=12;x", "?debug", "mode=fast?x"}
	diffRareQueries = []string{"q=é", "q=a#b"}
	diffMethods     = []string{"GET", "GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "TRACE"}
	diffRareMethods = []string{"get", "Get", "FOO", "CONNECT"}
	diffHeaders     = []string{"x-tenant: acme", "x-tenant: evil", "X-Tenant: acme", "x-tenant:  acme\t", "x-tenant: acme,evil",
		"x-tenant:", "x-version: v1", "x-version: v2", "x-version: v3", "x-version: v12", "x-debug:", "x-debug: 1",
		"x-other: 1", "x-a: é", "x-version: V1", "x-version: v1 ", "x-version:v2", "x-other:", "X-OTHER: 1",
		"x-tenant: ACME", "x-tenant: acme\t", "x-debug: \t", "x-version: v1, v2",
		// request_limits' content types (a Content-Length other than 0
		// would make Envoy wait for a body the generator never sends)
		"content-type: application/json", "Content-Type: Application/JSON; charset=utf-8", "content-type: text/csv",
		"content-type: text/", "content-type: image/png", "content-type:", "content-type: application/json-seq",
		"content-length: 0"}
	diffRareHeaders = []string{"x_other: 1", "x-a: a\x01b", "x-a : 1", " x-a: 1"}
)

// rareOneIn is how seldom the generator picks from a rare list.
const rareOneIn = 25

// generateRequests writes n random requests from the vocabulary.
func generateRequests(rng *rand.Rand, n int) []string {
	pick := func(common, rare []string) string {
		if rare != nil && rng.IntN(rareOneIn) == 0 {
			return rare[rng.IntN(len(rare))]
		}
		return common[rng.IntN(len(common))]
	}
	out := make([]string, 0, n)
	for range n {
		eol := "\r\n"
		if rng.IntN(20) == 0 {
			eol = "\n"
		}
		target := generateTarget(rng, pick)
		sep := " "
		switch rng.IntN(30) {
		case 0:
			sep = "\t"
		case 1:
			sep = "  "
		}
		version := "HTTP/1.1"
		switch rng.IntN(60) {
		case 0:
			version = "HTTP/1.0"
		case 1:
			version = "http/1.1"
		case 2:
			version = "HTTP/1.1\t"
		}
		var b strings.Builder
		b.WriteString(pick(diffMethods, diffRareMethods) + sep + target + sep + version + eol)
		if rng.IntN(rareOneIn) != 0 {
			b.WriteString("Host: " + pick(diffHosts, diffRareHosts) + eol)
		}
		if rng.IntN(15) == 0 {
			b.WriteString("Host: " + pick(diffHosts, diffRareHosts) + eol)
		}
		for range rng.IntN(4) {
			b.WriteString(pick(diffHeaders, diffRareHeaders) + eol)
		}
		if rng.IntN(4) != 0 {
			b.WriteString("x-catch: 1" + eol)
		}
		b.WriteString(eol)
		out = append(out, b.String())
	}
	return out
}

// generateTarget writes a request target: mostly a path of a few
// segments with an optional query, sometimes absolute-form, "*", a path
// without its leading slash or one over Envoy's header size limit.
func generateTarget(rng *rand.Rand, pick func(common, rare []string) string) string {
	var b strings.Builder
	for i := range 1 + rng.IntN(4) {
		sep := "/"
		switch rng.IntN(12) {
		case 0:
			sep = "//"
		case 1:
			sep = `\`
		}
		if i == 0 && sep == `\` && rng.IntN(4) != 0 {
			sep = "/" // a target must start with / (Envoy refuses it otherwise): mostly do
		}
		if i == 0 && rng.IntN(40) == 0 {
			sep = ""
		}
		b.WriteString(sep + pick(diffSegments, diffRareSegments))
	}
	if rng.IntN(8) == 0 {
		b.WriteString("/")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("?" + pick(diffQueries, diffRareQueries))
		if rng.IntN(3) == 0 {
			b.WriteString("&" + pick(diffQueries, diffRareQueries))
		}
	}
	target := b.String()
	switch rng.IntN(150) {
	case 0, 1, 2, 3, 4, 5:
		scheme := "http://"
		if rng.IntN(6) == 0 {
			scheme = pick([]string{"https://", "HTTP://", "ftp://"}, nil)
		}
		return scheme + pick(diffHosts[:12], nil) + target
	case 6:
		return "*"
	case 7:
		return "/api/" + strings.Repeat("a", 70<<10)
	}
	return target
}
