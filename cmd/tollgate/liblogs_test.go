package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// gRPC's log calls become entries of the serve logger: errors at error
// level, info and warnings at debug, and nothing below the logger's level.
func TestGRPCLogsGoThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	g := grpcLogger{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	g.Errorf("transport: %s", "broken pipe")
	g.Infoln("connection", "closed") // below info: dropped
	g.Warning("slow")                // ditto
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d entries, want the error only:\n%s", len(lines), buf.String())
	}
	var e struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Level != "ERROR" || e.Msg != "transport: broken pipe" {
		t.Fatalf("entry %q: %+v %v", lines[0], e, err)
	}

	buf.Reset()
	g = grpcLogger{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	g.Infoln("connection", "closed")
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil || e.Level != "DEBUG" || e.Msg != "connection closed" {
		t.Fatalf("debug entry %q: %+v %v", buf.String(), e, err)
	}
}
