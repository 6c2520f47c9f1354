package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// A key's last use is written when Tollgate stops, not only at the next
// flush interval, so a restart loses no usage.
func TestKeyUsageIsFlushedOnShutdown(t *testing.T) {
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner", Scopes: []string{"orders:read"}, Services: []string{"api"}}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "UPSTREAM_BILLING", upstream(t, "billing", 1, nil)[0]).Replace(keysPolicy)
	g := startAuthGateway(t, policy, "", "", kf, "/health", "--key-usage-flush", "1h")
	if _, d := authSend(t, g.base+"/orders", map[string]string{"X-API-Key": key}); d != nil {
		t.Fatalf("valid key refused: %+v", d)
	}
	g.tollgate.stop()
	out, err := exec.Command(tollgateBin, "keys", "list", "--file", g.keysFile).CombinedOutput()
	if err != nil {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "partner ") {
			if strings.HasSuffix(strings.TrimSpace(line), "-") {
				t.Errorf("no last use recorded after shutdown: %q", line)
			}
			return
		}
	}
	t.Errorf("partner not listed:\n%s", out)
}
