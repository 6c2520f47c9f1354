package ratelimiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// The decision path precomputes and reuses what it can (key prefixes,
// RateLimit-Policy values, CurrentLimit protos, counters). These tests pin
// its output to straightforward reference implementations, so that an
// optimisation cannot change what Envoy or Redis sees.

// referenceKey is the storage key as first written, with fmt-free string
// joining and no precomputation.
func referenceKey(lim *Limit, d Descriptor) (string, bool) {
	parts := []string{lim.Name, lim.Rule.Algorithm.code()}
	for _, p := range lim.Parts {
		v, ok := d.Get(policy.DescriptorKey(p))
		if !ok || v == "" {
			return "", false
		}
		if p.Dimension == policy.KeyHeader {
			v = hashValue(v)
		}
		parts = append(parts, v)
	}
	key := strings.Join(parts, "|")
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = lim.Name + "|" + lim.Rule.Algorithm.code() + "|#" + hex.EncodeToString(sum[:16])
	}
	return key, true
}

func TestKeyMatchesReference(t *testing.T) {
	const yaml = `
rate_limits:
  ip: { key: [client_ip], token_bucket: { rate: 5/s } }
  multi: { key: [route, client_id, header:x-tenant, client_ip], sliding_window: { limit: 3, window: 1s } }
  global: { key: [], fixed_window: { limit: 3, window: 1s } }
`
	l, err := Compile(policytest.Load(t, yaml), NewMemoryStore(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("r", 300)
	for _, tc := range []struct {
		limit string
		d     Descriptor
		ok    bool
	}{
		{"ip", desc("ip", policy.DescriptorClientIP, "10.0.0.1"), true},
		{"ip", desc("ip"), false},
		{"ip", desc("ip", policy.DescriptorClientIP, ""), false},
		{"global", desc("global"), true},
		{"multi", desc("multi", "route", "orders", "client_id", "c1", "header:x-tenant", "acme", policy.DescriptorClientIP, "::1"), true},
		{"multi", desc("multi", "route", "orders", "client_id", "c1", policy.DescriptorClientIP, "::1"), false},
		// Longer than maxKeyLen: hashed.
		{"multi", desc("multi", "route", long, "client_id", "c1", "header:x-tenant", "acme", policy.DescriptorClientIP, "::1"), true},
		{"ip", desc("ip", policy.DescriptorClientIP, long), true},
		// "ip|tb|" + value: exactly maxKeyLen, and one more.
		{"ip", desc("ip", policy.DescriptorClientIP, long[:maxKeyLen-6]), true},
		{"ip", desc("ip", policy.DescriptorClientIP, long[:maxKeyLen-5]), true},
	} {
		lim := l.Limit(tc.limit)
		got, ok := lim.key(tc.d)
		want, wantOK := referenceKey(lim, tc.d)
		if got != want || ok != wantOK || ok != tc.ok {
			t.Errorf("%s %v: key %q %v, want %q %v", tc.limit, tc.d, got, ok, want, wantOK)
		}
		if ok && len(got) > maxKeyLen {
			t.Errorf("%s: key of %d bytes", tc.limit, len(got))
		}
	}
}

// referenceResponse is the response built afresh for every call, as first
// written.
func referenceResponse(d *Decision) *rlsv3.RateLimitResponse {
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}
	for i, st := range d.Statuses {
		out := &rlsv3.RateLimitResponse_DescriptorStatus{Code: rlsv3.RateLimitResponse_OK}
		resp.Statuses = append(resp.Statuses, out)
		if !st.Applied {
			continue
		}
		if i == d.Refused {
			out.Code = rlsv3.RateLimitResponse_OVER_LIMIT
		}
		perUnit, secs := st.Limit.Rule.Limit, st.Limit.Rule.Period
		if st.Limit.Rule.Algorithm == TokenBucket {
			perUnit = st.Limit.Rule.Rate
		}
		out.CurrentLimit = &rlsv3.RateLimitResponse_RateLimit{
			Name:            st.Limit.Name,
			RequestsPerUnit: uint32(min(perUnit, 1<<32-1)),
			Unit:            rlsv3.RateLimitResponse_RateLimit_SECOND,
			UnitMultiplier:  wrapperspb.UInt32(uint32(max(1, secs/time.Second))),
		}
		out.LimitRemaining = uint32(min(max(st.Result.Remaining, 0), 1<<32-1))
		out.DurationUntilReset = durationpb.New(st.Result.Reset)
	}
	if st, ok := d.headerStatus(); ok {
		r := st.Result
		// The draft format, the default, written with fmt.
		var items []string
		seen := map[*Limit]bool{}
		for i, o := range d.Statuses {
			if (i == d.Refused || o.Applied && o.Limit.Headers && !o.Limit.Shadow) && !seen[o.Limit] {
				seen[o.Limit] = true
				w := o.Limit.Rule.Period
				if o.Limit.Rule.Algorithm == TokenBucket {
					w = time.Duration(float64(w) * float64(o.Limit.Rule.Limit) / float64(o.Limit.Rule.Rate))
				}
				items = append(items, fmt.Sprintf("%q;q=%d;w=%d", o.Limit.Name, o.Limit.Rule.Limit, seconds(w)))
			}
		}
		t := r.Reset
		if !d.Allowed {
			t = r.RetryAfter
		}
		h := [][2]string{
			{"RateLimit-Policy", strings.Join(items, ", ")},
			{"RateLimit", fmt.Sprintf("%q;r=%d;t=%d", st.Limit.Name, r.Remaining, seconds(t))},
		}
		if !d.Allowed {
			h = append(h, [2]string{"Retry-After", fmt.Sprint(seconds(r.RetryAfter))}, [2]string{"Content-Type", "application/json"})
		}
		for _, kv := range h {
			resp.ResponseHeadersToAdd = append(resp.ResponseHeadersToAdd, &corev3.HeaderValue{Key: kv[0], Value: kv[1]})
		}
	}
	if !d.Allowed {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		resp.RawBody = d.Body("")
		st := d.Statuses[d.Refused]
		resp.DynamicMetadata, _ = structpb.NewStruct(map[string]any{
			"error": "rate_limited", "limit": st.Limit.Name, "limit_type": st.Limit.Type,
			"message":             fmt.Sprintf("rate limit %q exceeded; retry later", st.Limit.Name),
			"retry_after_seconds": seconds(st.Result.RetryAfter),
		})
	}
	return resp
}

const fastPathYAML = `
rate_limits:
  tb: { key: [client_ip], token_bucket: { rate: 2/s, burst: 3 }, headers: true }
  sw: { key: [route], sliding_window: { limit: 4, window: 90s }, headers: true }
  fw: { key: [client_id], fixed_window: { limit: 5, window: 1m } }
  shadow: { key: [client_ip], fixed_window: { limit: 1, window: 1m }, shadow: true }
  big: { key: [route], fixed_window: { limit: 1000000000, window: 2500ms } }
`

// TestResponseMatchesReference decides a sequence of requests (admitted,
// refused, shadow-refused, unknown limits, more descriptors than a small
// decision holds) and compares each response with the reference.
func TestResponseMatchesReference(t *testing.T) {
	clock := newClock()
	s := newService(t, fastPathYAML, NewMemoryStore(clock.Now), false, clock.Now)
	srv := NewServer(s)
	all := func(ip string) *rlsv3.RateLimitRequest {
		d := func(limit string) *commonrlv3.RateLimitDescriptor {
			return &commonrlv3.RateLimitDescriptor{Entries: []*commonrlv3.RateLimitDescriptor_Entry{
				{Key: "limit", Value: limit}, {Key: "route", Value: "orders"},
				{Key: "remote_address", Value: ip}, {Key: "client_id", Value: "c1"},
			}}
		}
		return &rlsv3.RateLimitRequest{Descriptors: []*commonrlv3.RateLimitDescriptor{
			d("tb"), d("sw"), d("fw"), d("shadow"), d("big"), d("unknown"),
		}}
	}
	few := func(ip string) *rlsv3.RateLimitRequest {
		r := all(ip)
		r.Descriptors = r.Descriptors[:2]
		return r
	}
	var refused, admitted int
	for i := range 12 {
		req := all("10.0.0.1")
		if i%3 == 1 {
			req = few(fmt.Sprintf("10.0.1.%d", i))
		}
		d, err := s.Decide(context.Background(), toRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			admitted++
		} else {
			refused++
		}
		got, want := toResponse(d, srv.protos()), referenceResponse(d)
		if !proto.Equal(got, want) {
			t.Fatalf("request %d:\ngot  %v\nwant %v", i, got, want)
		}
		clock.Advance(100 * time.Millisecond)
	}
	if admitted == 0 || refused == 0 {
		t.Fatalf("the sequence should admit and refuse: %d admitted, %d refused", admitted, refused)
	}
}

// TestCurrentLimitFollowsSwap: the cached CurrentLimit protos belong to one
// limiter generation, keyed by the compiled limit, never by its name; after
// a reload the response describes the new limit.
func TestCurrentLimitFollowsSwap(t *testing.T) {
	s := newService(t, "rate_limits:\n  l: { key: [route], fixed_window: { limit: 5, window: 1m } }\n", NewMemoryStore(nil), false, nil)
	client := serveRLS(t, s)
	req := &rlsv3.RateLimitRequest{Descriptors: []*commonrlv3.RateLimitDescriptor{{Entries: []*commonrlv3.RateLimitDescriptor_Entry{
		{Key: "limit", Value: "l"}, {Key: "route", Value: "orders"},
	}}}}
	perUnit := func() uint32 {
		resp, err := client.ShouldRateLimit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Statuses[0].GetCurrentLimit().GetRequestsPerUnit()
	}
	if got := perUnit(); got != 5 {
		t.Fatalf("requests per unit %d, want 5", got)
	}
	next, err := Compile(policytest.Load(t, "rate_limits:\n  l: { key: [route], fixed_window: { limit: 7, window: 1m } }\n"), NewMemoryStore(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(next)
	if got := perUnit(); got != 7 {
		t.Fatalf("after the swap: requests per unit %d, want 7", got)
	}
}

// TestConcurrentCallsShareProtos runs concurrent calls over real gRPC
// (under -race in CI): the shared CurrentLimit protos are only read, and
// the counters cached per limit count every decision.
func TestConcurrentCallsShareProtos(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewService(quiet, nil, NewMetrics(reg), nil)
	l, err := Compile(policytest.Load(t, benchYAML), NewMemoryStore(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(l)
	client := serveRLS(t, s)
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				resp, err := client.ShouldRateLimit(context.Background(), benchRequest(w*calls+i))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.OverallCode != rlsv3.RateLimitResponse_OK || resp.Statuses[2].GetCurrentLimit().GetName() != "per-client" {
					t.Errorf("response: %v", resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, limit := range []string{"per-ip", "per-route", "per-client"} {
		if got := testutil.ToFloat64(s.metrics.decisions.WithLabelValues(limit, "admitted")); got != workers*calls {
			t.Errorf("%s admitted %v, want %d", limit, got, workers*calls)
		}
	}
	// Only the results that happened are exported, as before the cache.
	if n := testutil.CollectAndCount(s.metrics.decisions); n != 3 {
		t.Errorf("%d decision series, want 3", n)
	}
}
