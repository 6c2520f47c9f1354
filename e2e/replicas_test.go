package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// With a maximum connection age, Tollgate closes Envoy's gRPC connections
// now and then, so that ADS streams spread over the replicas of a rollout:
// the Envoy reconnects (two "proxy connected" at least), and requests that
// need ext_authz keep succeeding across the reconnects.
func TestADSStreamsReconnectAfterTheMaxConnectionAge(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner", Scopes: []string{"orders:read"}}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "UPSTREAM_BILLING", upstream(t, "billing", 1, nil)[0]).Replace(keysPolicy)
	g := startAuthGateway(t, policy, "", "", kf, "/health",
		"--grpc-max-connection-age", "1s", "--grpc-max-connection-age-grace", "500ms")
	headers := map[string]string{"X-API-Key": key}
	connects := func() int { return strings.Count(g.tollgate.log.String(), `msg="proxy connected"`) }
	sent, failed := 0, 0
	var firstFailure string
	// Bounded: 3 connects need about 3 s of requests; give up after 2000.
	for connects() < 3 && sent < 2000 {
		status, body, err := httpGet(g.base+"/orders", headers)
		sent++
		if status != 200 {
			failed++
			if firstFailure == "" {
				firstFailure = fmt.Sprintf("status %d, %v: %s", status, err, body)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := connects(); n < 3 {
		t.Fatalf("the Envoy connected %d times in %d requests, want 3 at least (a reconnect after each max age)", n, sent)
	}
	if failed > 0 {
		t.Errorf("%d of %d requests across the reconnects failed; the first: %s", failed, sent, firstFailure)
	}
}
