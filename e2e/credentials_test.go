package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/demoservice"
)

// One route of every kind; the forward route asks for the bearer token.
const credentialsPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM] }
access_log: { path: ACCESS_LOG }
auth:
  api_keys: { file: keys/keys.yaml }
  jwt:
    - { issuer: https://idp.test, jwks_uri: "{{JWKS}}", audiences: [api] }
routes:
  - { name: public, match: { path_prefix: /public/ }, to: api, auth: { public: true } }
  - { name: public-forward, match: { path_prefix: /public-forward }, to: api, auth: { public: true, forward_token: true } }
  - { name: key, match: { path_prefix: /key }, to: api, auth: { accept: [api_key] } }
  - { name: jwt, match: { path_prefix: /jwt }, to: api, auth: { accept: [jwt] } }
  - { name: mixed, match: { path_prefix: /mixed }, to: api, auth: { accept: [anonymous, api_key, jwt] } }
  - { name: query, match: { path_prefix: /query }, to: api, auth: { accept: [api_key], allow_query: true } }
  - { name: forward, match: { path_prefix: /forward }, to: api, auth: { accept: [api_key, jwt], forward_token: true } }
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
`

// credentialPlacement is one way a client sends a credential.
type credentialPlacement struct {
	name    string
	query   string      // appended to the path
	headers [][2]string // name, value; a name may repeat
	// bearer: Authorization is the bearer token alone, which a
	// forward_token route receives.
	bearer bool
}

func hdr(kv ...string) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

// No credential Tollgate reads reaches a service: for every kind of route
// and every placement of an API key or a bearer token, everything the
// service receives (headers, path, query) and the access log are scanned
// for the secret. Credentials in the query string are refused where the
// route does not take them there, rather than dropped silently.
func TestNoCredentialReachesAService(t *testing.T) {
	t.Parallel()
	signer := authtest.NewRSA("rsa-1")
	idp := startIDP(t, signer)
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	token := signer.Sign(authtest.Standard("https://idp.test", "api", "alice", ""))
	accessLog := filepath.Join(t.TempDir(), "access.log")
	policy := strings.NewReplacer("UPSTREAM", upstream(t, "api", 1, nil)[0], "ACCESS_LOG", accessLog).Replace(credentialsPolicy)
	g := startAuthGateway(t, policy, idp.URL, "", kf, "/health")

	placements := []credentialPlacement{
		{name: "key header", headers: hdr("X-API-Key", key)},
		{name: "key header, lower case", headers: hdr("x-api-key", key)},
		{name: "ApiKey authorization", headers: hdr("Authorization", "ApiKey "+key)},
		{name: "apikey authorization, lower case", headers: hdr("authorization", "apikey "+key)},
		{name: "bearer and ApiKey authorization", headers: hdr("Authorization", "Bearer "+token, "Authorization", "ApiKey "+key)},
		{name: "key in query", query: "?q=a%26b&api_key=" + key + "&z=1"},
		{name: "key in query, repeated", query: "?api_key=" + key + "&api_key=" + key},
		// Not read by Tollgate, but decoded to api_key by most services.
		{name: "key in query, name escaped", query: "?%61pi%5Fkey=" + key},
		{name: "bearer token", headers: hdr("Authorization", "Bearer "+token), bearer: true},
		{name: "key header and bearer token", headers: hdr("X-API-Key", key, "Authorization", "Bearer "+token), bearer: true},
		{name: "key in query and header", query: "?api_key=" + key, headers: hdr("X-API-Key", key)},
	}
	// want is the status of each route for each placement (200 unless
	// listed). A route refuses a credential it does not accept, and a key
	// in the query where allow_query is off, with 401.
	// Two Authorization headers reach Tollgate joined ("Bearer t,ApiKey
	// k"): not a valid token.
	refused := map[string][]string{
		"key":     {"key in query", "key in query, repeated", "key in query, name escaped", "bearer token", "bearer and ApiKey authorization", "key in query and header"},
		"jwt":     {"key header", "key header, lower case", "ApiKey authorization", "apikey authorization, lower case", "bearer and ApiKey authorization", "key in query", "key in query, repeated", "key in query, name escaped", "key in query and header"},
		"mixed":   {"key in query", "key in query, repeated", "bearer and ApiKey authorization", "key in query and header"},
		"query":   {"key in query, name escaped", "bearer token", "bearer and ApiKey authorization"},
		"forward": {"key in query", "key in query, repeated", "key in query, name escaped", "bearer and ApiKey authorization", "key in query and header"},
	}
	secrets := map[string]string{"API key": key, "API key secret": key[len(key)-32:], "token": token, "token signature": token[strings.LastIndexByte(token, '.')+1:]}
	sent := 0
	for _, route := range []string{"public", "public-forward", "key", "jwt", "mixed", "query", "forward"} {
		for _, pl := range placements {
			name := route + "/" + pl.name
			want := 200
			if slices.Contains(refused[route], pl.name) {
				want = 401
			}
			status, body := sendPairs(t, g.base+"/"+route+"/x"+pl.query, pl.headers)
			sent++
			if status != want {
				t.Errorf("%s: status %d, want %d: %s", name, status, want, body)
				continue
			}
			if status != 200 {
				if want == 401 && strings.Contains(pl.query, "api_key") && !strings.Contains(body, "query string") {
					t.Errorf("%s: the refusal does not say why: %s", name, body)
				}
				continue
			}
			forwarded := body
			if strings.HasSuffix(route, "forward") && pl.bearer {
				// The route asked for the token: it must arrive, and only in
				// Authorization.
				r := decodeEcho(t, body)
				if r.Headers["authorization"] != "Bearer "+token {
					t.Errorf("%s: the forward_token route got authorization %q, want the bearer token", name, r.Headers["authorization"])
				}
				delete(r.Headers, "authorization")
				forwarded = fmt.Sprintf("%s %s %v", r.Path, r.Query, r.Headers)
			}
			for what, secret := range secrets {
				if strings.Contains(forwarded, secret) {
					t.Errorf("%s: the service received the %s: %s", name, what, body)
				}
			}
			if pl.name == "key in query" && !strings.Contains(body, `"query": "q=a%26b\u0026z=1"`) {
				t.Errorf("%s: the other query parameters were not kept byte for byte: %s", name, body)
			}
		}
	}

	// Nothing the gateway logged holds a secret either: every request is
	// in the access log (written asynchronously) before it is scanned.
	eventually(t, 10*time.Second, func() error {
		data, err := os.ReadFile(accessLog)
		if err != nil {
			return err
		}
		if n := strings.Count(string(data), "\n"); n < sent {
			return fmt.Errorf("%d of %d requests in the access log", n, sent)
		}
		return nil
	})
	data, _ := os.ReadFile(accessLog)
	for what, secret := range secrets {
		if strings.Contains(string(data), secret) {
			t.Errorf("the access log holds the %s", what)
		}
		if strings.Contains(g.tollgate.log.String(), secret) {
			t.Errorf("Tollgate's log holds the %s", what)
		}
	}
}

// rawSend makes one request and returns its status and body.
func rawSend(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	var pairs [][2]string
	for k, v := range headers {
		pairs = append(pairs, [2]string{k, v})
	}
	return sendPairs(t, url, pairs)
}

// sendPairs makes one request with headers as written (lower-case names
// stay lower-case; a repeated name is sent twice).
func sendPairs(t *testing.T, url string, headers [][2]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1])
	}
	resp, body, err := roundTrip(client, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func decodeEcho(t *testing.T, body string) demoservice.Reply {
	t.Helper()
	var r demoservice.Reply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not the demo service's answer: %v: %s", err, body)
	}
	return r
}
