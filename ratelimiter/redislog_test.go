package ratelimiter

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/testenv"
)

// go-redis logs a failed dial (with its default dialer) through its
// package logger; after LogRedisTo it is a JSON entry of ours.
func TestRedisLogsGoThroughSlog(t *testing.T) {
	logs := &testenv.Buffer{}
	LogRedisTo(slog.New(slog.NewJSONHandler(logs, nil)))
	t.Cleanup(func() { LogRedisTo(quiet) })
	// Port 1 on loopback refuses: go-redis logs the failed dial.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialerRetries: 1, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, line := range lines {
		var entry struct{ Msg, Component, Level string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if entry.Component == "go-redis" && strings.Contains(entry.Msg, "failed to dial") && entry.Level == "WARN" {
			return
		}
	}
	t.Fatalf("no go-redis entry for the failed dial in:\n%s", logs)
}
