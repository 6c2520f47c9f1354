package ratelimiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/recent"
	"github.com/tollgate/tollgate/policy"
)

// maxEventKeys bounds the keys remembered in one interval; refusals of
// further keys are only counted, so an attack from many addresses cannot
// grow memory or the log without bound.
const maxEventKeys = 10_000

// EventLog writes over-limit decisions to their own structured log (JSON
// lines through slog), one line per limit and key per interval with the
// number of refusals, so a client hammering a limit produces one line per
// interval, not one per request. The pending map is guarded by mu.
type EventLog struct {
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	pending map[string]*event
	dropped int64

	// recent keeps the last flushed events for the status page
	// (recent.go).
	recent *recent.Ring[RecentEvent]
}

type event struct {
	limit       *Limit
	key         string
	descriptor  Descriptor
	shadow      bool
	count       int64
	first, last time.Time
}

// NewEventLog returns an event log writing to log every interval; Run
// does the writing.
func NewEventLog(log *slog.Logger, interval time.Duration) *EventLog {
	return &EventLog{log: log, interval: interval, pending: map[string]*event{}, recent: recent.New[RecentEvent](recentEvents)}
}

// Add records one refusal (or, for a shadow limit, one refusal it would
// have made).
func (e *EventLog) Add(l *Limit, key string, d Descriptor, shadow bool) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev, ok := e.pending[key]; ok {
		ev.count++
		ev.last = now
		return
	}
	if len(e.pending) >= maxEventKeys {
		e.dropped++
		return
	}
	e.pending[key] = &event{limit: l, key: key, descriptor: d, shadow: shadow, count: 1, first: now, last: now}
}

// Run flushes the log every interval until ctx ends, then once more.
func (e *EventLog) Run(ctx context.Context) {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.Flush()
			return
		case <-t.C:
			e.Flush()
		}
	}
}

// Flush writes one line per limit and key refused since the last flush.
func (e *EventLog) Flush() {
	e.mu.Lock()
	pending, dropped := e.pending, e.dropped
	e.pending, e.dropped = map[string]*event{}, 0
	e.mu.Unlock()
	for _, ev := range pending {
		e.log.LogAttrs(context.Background(), slog.LevelWarn, "rate_limited", ev.attrs()...)
		e.recent.Add(ev.recent())
	}
	if dropped > 0 {
		e.log.Warn("rate_limited_unaggregated", "count", dropped, "reason", "too many distinct keys in one interval")
	}
}

func (ev *event) attrs() []slog.Attr {
	get := func(key string) string { v, _ := ev.descriptor.Get(key); return v }
	identity := func(d policy.KeyDimension) string { return get(policy.DescriptorKey(policy.KeyPart{Dimension: d})) }
	attrs := []slog.Attr{
		slog.String("limit", ev.limit.Name),
		slog.String("limit_type", ev.limit.Type),
		slog.Bool("shadow", ev.shadow),
		slog.Int64("count", ev.count),
		slog.Time("first", ev.first),
		slog.Time("last", ev.last),
		slog.String("route", get(policy.DescriptorRoute)),
		slog.String("client_ip", get(policy.DescriptorClientIP)),
		slog.String("client_id", identity(policy.KeyClientID)),
		slog.String("user", identity(policy.KeyUser)),
		slog.String("tier", identity(policy.KeyTier)),
	}
	desc := make([]any, 0, len(ev.descriptor))
	for _, en := range ev.descriptor {
		desc = append(desc, slog.String(en.Key, loggable(en)))
	}
	return append(attrs, slog.Group("descriptor", desc...))
}

// loggable is an entry's value as the event log shows it. Header values
// may be credentials (an API key header), so they appear only as a hash
// that still tells one client from another.
func loggable(en Entry) string {
	if !strings.HasPrefix(en.Key, "header:") {
		return en.Value
	}
	return hashValue(en.Value)
}

// hashValue is a short, stable digest of a value.
func hashValue(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
