package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/andybalholm/brotli"
)

const compressionPolicy = `
listeners:
  - name: public
    address: 127.0.0.1
    port: {{PORT}}
    compression: { algorithms: [brotli, gzip], min_size: 1024, content_types: [text/html] }
routes:
  - { name: health, match: { path: /health }, to: api }
  - { name: listener-default, match: { path: /static }, to: static }
  - { name: gzip-only, match: { path: /static-gzip }, to: static, compression: { algorithms: [gzip] } }
  - { name: off, match: { path: /static-off }, to: static, compression: { disabled: true } }
`

// staticBody is what the static service answers: size bytes of text that
// compresses, the same for every request.
func staticBody(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "<p>line %d of the page</p>\n", i)
	}
	return b.Bytes()[:size]
}

// staticService answers staticBody(?size=N) with the Content-Type ?type=.
func staticService(int, http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		body := staticBody(size)
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// TestCompressionFollowsListenerAndRoute fetches the same bodies through a
// real Envoy with and without Accept-Encoding: what Envoy compresses (gzip
// or brotli, as the client asks and the route allows) decompresses to the
// service's bytes; bodies under min_size, other content types, a route
// with compression disabled and a client that accepts no encoding get the
// body as is.
func TestCompressionFollowsListenerAndRoute(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"10-policy.yaml": compressionPolicy,
		"20-services.yaml": servicesYAML(t, "api") +
			fmt.Sprintf("  static: { endpoints: [%s] }\n", upstream(t, "static", 1, staticService)[0]),
	}
	g := startGateway(t, files, false, "/health", "api")
	const html = "text/html%3B+charset%3Dutf-8" // with a parameter, which must not matter
	cases := []struct {
		name, path, accept string
		size               int
		wantEncoding       string
	}{
		{"gzip", "/static?type=" + html, "gzip", 4000, "gzip"},
		{"brotli", "/static?type=" + html, "br", 4000, "br"},
		{"the client's preference", "/static?type=" + html, "gzip;q=0.5, br", 4000, "br"},
		{"a route allowing gzip only", "/static-gzip?type=" + html, "br, gzip;q=0.5", 4000, "gzip"},
		{"under min_size", "/static?type=" + html, "gzip, br", 1000, ""},
		{"another content type", "/static?type=application/json", "gzip, br", 4000, ""},
		{"a route with compression disabled", "/static-off?type=" + html, "gzip, br", 4000, ""},
		{"no Accept-Encoding", "/static?type=" + html, "", 4000, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string]string{}
			if tc.accept != "" {
				headers["Accept-Encoding"] = tc.accept // set by hand, Go's client leaves the body as sent
			}
			resp, body := mustRoundTrip(t, "GET", g.base+tc.path+"&size="+strconv.Itoa(tc.size), headers, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			plain, err := decode(tc.wantEncoding, body)
			if err != nil {
				t.Fatalf("decoding %s: %v", tc.wantEncoding, err)
			}
			if !bytes.Equal(plain, staticBody(tc.size)) {
				t.Fatalf("the body (%d bytes, %d decoded) is not the service's %d bytes", len(body), len(plain), tc.size)
			}
			if tc.wantEncoding != "" && len(body) >= tc.size {
				t.Errorf("compressed to %d bytes from %d", len(body), tc.size)
			}
		})
	}
}

func decode(encoding string, body []byte) ([]byte, error) {
	switch encoding {
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case "br":
		return io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
	}
	return body, nil
}
