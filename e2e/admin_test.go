package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// startTollgateUnready runs `tollgate serve` without waiting for /readyz,
// for tests of what it says before a valid policy is loaded.
func startTollgateUnready(t *testing.T, policyDir string) *tollgate {
	t.Helper()
	tg := &tollgate{grpcAddr: freeAddr(t), adminAddr: freeAddr(t), log: &testenv.Buffer{}, done: make(chan struct{})}
	tg.run(t, "serve", "--policy", policyDir,
		"--grpc-addr", tg.grpcAddr, "--admin-addr", tg.adminAddr, "--log-format", "text", "--state-dir", t.TempDir())
	eventually(t, 10*time.Second, func() error {
		_, _, err := httpGet(tg.adminURL("/healthz"), nil)
		return err
	})
	return tg
}

func TestAdminEndpointsFollowThePolicy(t *testing.T) {
	t.Parallel()
	listener := strings.ReplaceAll(listenerYAML, "{{PORT}}", strings.Split(freeAddr(t), ":")[1])
	dir := policyDir(t, map[string]string{
		"gateway.yaml": listener + servicesYAML(t, "orders") + "routes:\n  - { name: orders, to: nowhere }\n",
	})
	tg := startTollgateUnready(t, dir)

	// Alive but not ready: the first policy is invalid.
	if status, body, _ := httpGet(tg.adminURL("/healthz"), nil); status != 200 {
		t.Errorf("/healthz = %d %s", status, body)
	}
	wantErr := filepath.Join(dir, "gateway.yaml") + ":6:25: routes.orders.to[0].service: unknown service"
	status, body, _ := httpGet(tg.adminURL("/readyz"), nil)
	if status != 503 || !strings.Contains(string(body), wantErr) {
		t.Errorf("/readyz = %d %q, want 503 naming %q", status, body, wantErr)
	}

	writeFile(t, filepath.Join(dir, "gateway.yaml"), listener+servicesYAML(t, "orders")+
		"routes:\n  - { name: orders, to: orders }\ntracing: { collector: \"127.0.0.1:4317\", sample_percent: 10 }\n")
	eventually(t, 10*time.Second, func() error {
		if status, body, _ := httpGet(tg.adminURL("/readyz"), nil); status != 200 {
			return fmt.Errorf("/readyz = %d %s", status, body)
		}
		return nil
	})

	_, body, _ = httpGet(tg.adminURL("/debug/config"), nil)
	var cfg struct {
		Version   string    `json:"version"`
		LoadedAt  time.Time `json:"loaded_at"`
		Routes    []struct{ Name string }
		Services  []struct{ Name string }
		AccessLog struct{ Sink, Path string } `json:"access_log"`
		Tracing   struct {
			Collector     string  `json:"collector"`
			SamplePercent float64 `json:"sample_percent"`
		} `json:"tracing"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatalf("/debug/config: %v\n%s", err, body)
	}
	if cfg.Version == "" || time.Since(cfg.LoadedAt) > time.Minute || len(cfg.Routes) != 1 || cfg.Routes[0].Name != "orders" ||
		len(cfg.Services) != 1 || cfg.AccessLog.Sink != "file" || cfg.AccessLog.Path != "/dev/stdout" ||
		cfg.Tracing.Collector != "127.0.0.1:4317" || cfg.Tracing.SamplePercent != 10 {
		t.Errorf("/debug/config does not describe the policy:\n%s", body)
	}
	if got := tg.metric(t, `tollgate_xds_config_info{version="`+cfg.Version+`"}`); got != "1" {
		t.Errorf("tollgate_xds_config_info for the serving version = %q, want 1", got)
	}
	if _, body, _ := httpGet(tg.adminURL("/debug/proxies"), nil); strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("/debug/proxies with no Envoy = %s, want []", body)
	}
}
