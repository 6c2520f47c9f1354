package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/ratelimiter"
)

// Two replicas write last-used times to one Redis: each key keeps its
// latest use whichever replica saw it, a replica flushing an older time
// does not move it back, and both replicas (and `keys list --redis`) read
// one view. A real redis-server.
func TestKeyUsageInRedisIsOneViewAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	cfg := (&rateLimitFlags{redis: srv.Addr}).storeConfig(nil)
	replicas := [2]*sharedUsage{}
	for i := range replicas {
		replicas[i] = &sharedUsage{log: slog.New(slog.DiscardHandler)}
		replicas[i].use(cfg)
		t.Cleanup(replicas[i].close)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	merge := func(r *sharedUsage, times map[string]time.Time) {
		t.Helper()
		store := r.store()
		if store == nil {
			t.Fatal("no shared store with a Redis configured")
		}
		if err := store.Merge(ctx, times); err != nil {
			t.Fatal(err)
		}
	}
	merge(replicas[0], map[string]time.Time{"partner": t0.Add(time.Hour), "ops": t0})
	merge(replicas[1], map[string]time.Time{"partner": t0, "mobile": t0.Add(2 * time.Hour)})
	want := map[string]time.Time{"partner": t0.Add(time.Hour), "ops": t0, "mobile": t0.Add(2 * time.Hour)}
	for i, r := range replicas {
		got, err := r.store().Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for id, w := range want {
			if !got[id].Equal(w) {
				t.Errorf("replica %d reads %s last used %v, want %v", i, id, got[id], w)
			}
		}
	}

	// keys list --redis shows the shared view, merged with the file.
	file := filepath.Join(t.TempDir(), "keys.yaml")
	kf := &authz.KeysFile{}
	for _, id := range []string{"partner", "ops", "unused"} {
		if _, err := authz.AddKey(kf, authz.NewKeyOptions{ID: id}, t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := authz.WriteKeysFile(file, kf); err != nil {
		t.Fatal(err)
	}
	if err := authz.FileUsage(authz.UsagePath(file)).Merge(ctx, map[string]time.Time{"ops": t0.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "keys", "list", "--file", file, "--redis", srv.Addr)
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, errOut)
	}
	for id, w := range map[string]string{"partner": "2026-01-02T04:04:05Z", "ops": "2026-01-02T06:04:05Z", "unused": "-"} {
		if line := listLine(out, id); !strings.HasSuffix(line, " "+w) {
			t.Errorf("keys list: %s last used %q, want %s:\n%s", id, line, w, out)
		}
	}
	// --policy reaches the Redis of the policy's rate_limit_store.
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "gateway.yaml"), "listeners: [{ name: l, port: 8080 }]\nservices: { s: { endpoints: [127.0.0.1:9000] } }\nroutes: [{ name: r, to: s }]\nrate_limit_store: { redis: { address: "+srv.Addr+" } }\n")
	out, errOut, code = runCmd(t, "keys", "list", "--file", file, "--policy", dir)
	if line := listLine(out, "partner"); code != 0 || !strings.HasSuffix(line, " 2026-01-02T04:04:05Z") {
		t.Errorf("keys list --policy: %d %s, partner %q", code, errOut, line)
	}
	// Without --redis, only this machine's file.
	out, _, _ = runCmd(t, "keys", "list", "--file", file)
	if line := listLine(out, "partner"); !strings.HasSuffix(line, " -") {
		t.Errorf("keys list without --redis shows %q, want no last use", line)
	}
}

// Without a Redis store, times go beside the keys file (nil shared store),
// and switching a generation to memory drops the Redis client.
func TestKeyUsageWithoutRedisStaysBesideTheKeysFile(t *testing.T) {
	srv := redistest.Start(t)
	s := &sharedUsage{log: slog.New(slog.DiscardHandler)}
	s.use((&rateLimitFlags{}).storeConfig(nil))
	if s.store() != nil {
		t.Error("a shared store without Redis configured")
	}
	s.use((&rateLimitFlags{redis: srv.Addr}).storeConfig(nil))
	if s.store() == nil {
		t.Error("no shared store with Redis configured")
	}
	s.use(ratelimiter.StoreConfig{})
	if s.store() != nil {
		t.Error("the shared store stayed after the generation dropped Redis")
	}
}

func listLine(out, id string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, id+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
