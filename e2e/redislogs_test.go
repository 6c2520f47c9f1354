package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate/tollgate/internal/redistest"
)

// TestLogsStayJSONWhileRedisIsDown runs the real binary with JSON logs
// and a Redis that is killed under traffic, then restarted: every line
// Tollgate writes, its libraries' included (go-redis logs each failed
// dial), is one JSON object, and the outage is one degraded transition
// and one recovery, however many calls raced across it.
func TestLogsStayJSONWhileRedisIsDown(t *testing.T) {
	redis := redistest.Start(t)
	dir := policyDir(t, map[string]string{
		"10-policy.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", "1") + `
services: { api: { endpoints: [127.0.0.1:1] } }
routes: [{ name: r, to: api, rate_limits: [per-ip] }]
rate_limits:
  per-ip: { key: [client_ip], fixed_window: { limit: 1000000, window: 1h } }
`,
	})
	tg := startTollgateWith(t, dir, "--only", "ratelimit", "--redis", redis.Addr, "--redis-timeout", "1s", "--log-format", "json")
	conn, err := grpc.NewClient(tg.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := rlsv3.NewRateLimitServiceClient(conn)
	call := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: []*commonrlv3.RateLimitDescriptor{{
			Entries: []*commonrlv3.RateLimitDescriptor_Entry{{Key: "limit", Value: "per-ip"}, {Key: "route", Value: "r"}, {Key: "remote_address", Value: fmt.Sprintf("10.0.0.%d", i%200)}},
		}}})
		return err
	}
	// traffic makes 4 concurrent callers send n calls each, 20ms apart.
	traffic := func(n int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if err := call(w*n + i); err != nil {
						t.Errorf("call failed: %v", err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
	}
	traffic(5)
	redis.Stop()
	traffic(50) // about a second: several probes and failed dials
	redis.Restart()
	eventually(t, 10*time.Second, func() error {
		if err := call(0); err != nil {
			return err
		}
		if v := tg.metric(t, `tollgate_ratelimit_degraded{mode="fail_open"}`); v != "0" {
			return fmt.Errorf("still degraded: %q", v)
		}
		return nil
	})
	traffic(5)
	tg.stop()

	var degraded, recovered int
	for _, line := range strings.Split(strings.TrimSpace(tg.log.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		msg, _ := entry["msg"].(string)
		switch {
		case strings.Contains(msg, "entering degraded mode"):
			degraded++
		case strings.Contains(msg, "recovered"):
			recovered++
		}
	}
	if degraded != 1 || recovered != 1 {
		t.Errorf("one outage logged as %d degraded and %d recovered transitions, want 1 and 1", degraded, recovered)
	}
}
