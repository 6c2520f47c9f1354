package ratelimiter

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// The status page lists recent over-limit events before and after the
// event log writes them, newest first, and never a header value (which
// may be a credential).
func TestEventLogRecentListsPendingAndFlushedEvents(t *testing.T) {
	e := NewEventLog(quiet, time.Hour)
	ip := &Limit{Name: "per-ip"}
	hdr := &Limit{Name: "per-key-header"}
	e.Add(ip, "per-ip|10.0.0.1", desc("per-ip", policy.DescriptorRoute, "orders", policy.DescriptorClientIP, "10.0.0.1"), false)
	e.Add(ip, "per-ip|10.0.0.1", desc("per-ip", policy.DescriptorRoute, "orders", policy.DescriptorClientIP, "10.0.0.1"), false)

	got := e.Recent()
	if len(got) != 1 || got[0].Limit != "per-ip" || got[0].Count != 2 || got[0].Route != "orders" || got[0].ClientIP != "10.0.0.1" {
		t.Fatalf("pending: Recent = %+v, want per-ip refusing 10.0.0.1 twice on orders", got)
	}
	e.Flush()
	e.Add(hdr, "per-key-header|secret", desc("per-key-header", "header:x-api-key", "tg_secret-value"), true)

	got = e.Recent()
	if len(got) != 2 || got[0].Limit != "per-key-header" || !got[0].Shadow || got[1].Limit != "per-ip" {
		t.Fatalf("after a flush: Recent = %+v, want the new shadow event, then the flushed one", got)
	}
	if s := strings.Join([]string{got[0].ClientID, got[0].ClientIP, got[0].Route}, " "); strings.Contains(s, "tg_secret-value") {
		t.Errorf("a header value reached the recent events: %+v", got[0])
	}
}
