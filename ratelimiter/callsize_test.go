package ratelimiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	commonrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// freeDescriptor is what Envoy sends for the "free" limit (1 a minute
// per client) of limitsYAML, with extra entries to pad it.
func freeDescriptor(extra int) *commonrlv3.RateLimitDescriptor {
	d := &commonrlv3.RateLimitDescriptor{}
	for _, kv := range [][2]string{{"limit", "free"}, {"route", "orders"}, {"remote_address", "10.0.0.1"}, {"auth", "api_key"}, {"client_id", "c-1"}, {"tier", "free"}} {
		d.Entries = append(d.Entries, &commonrlv3.RateLimitDescriptor_Entry{Key: kv[0], Value: kv[1]})
	}
	for i := range extra {
		d.Entries = append(d.Entries, &commonrlv3.RateLimitDescriptor_Entry{Key: fmt.Sprintf("header:x-%d", i), Value: "v"})
	}
	return d
}

func rlsCall(descs ...*commonrlv3.RateLimitDescriptor) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: "tollgate", Descriptors: descs}
}

// A call carrying more descriptors, or longer descriptors, than any
// translation of a policy can produce is refused whole with
// InvalidArgument (not decided: its cost grows with its size), counted,
// and charges nothing.
func TestOversizedRateLimitCallIsRefused(t *testing.T) {
	s := newService(t, limitsYAML, NewMemoryStore(nil), false, nil)
	client := serveRLS(t, s)
	ctx := context.Background()

	many := make([]*commonrlv3.RateLimitDescriptor, 10_000)
	for i := range many {
		many[i] = freeDescriptor(0)
	}
	for _, tc := range []struct {
		name, reason, msg string
		req               *rlsv3.RateLimitRequest
	}{
		{"10,000 descriptors", "too_many_descriptors", "10000 descriptors", rlsCall(many...)},
		{"one descriptor of 1,000 entries", "too_many_entries", "1006 entries", rlsCall(freeDescriptor(1000))},
	} {
		resp, err := client.ShouldRateLimit(ctx, tc.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("%s: got %v, %v; want InvalidArgument naming %q", tc.name, resp, err, tc.msg)
		}
		if n := testutil.ToFloat64(s.metrics.invalidCalls.WithLabelValues(tc.reason)); n != 1 {
			t.Errorf("%s: tollgate_ratelimit_invalid_calls_total{reason=%q} = %v, want 1", tc.name, tc.reason, n)
		}
	}

	// Nothing was charged: the client's one call a minute is still there.
	// A call at the caps is decided as usual.
	atCaps := make([]*commonrlv3.RateLimitDescriptor, MaxDescriptors)
	atCaps[0] = freeDescriptor(MaxDescriptorEntries - 6)
	for i := 1; i < len(atCaps); i++ {
		atCaps[i] = freeDescriptor(0)
		atCaps[i].Entries[0].Value = "unknown-limit"
	}
	resp, err := client.ShouldRateLimit(ctx, rlsCall(atCaps...))
	if err != nil || resp.OverallCode != rlsv3.RateLimitResponse_OK {
		t.Fatalf("a call at the caps after refused oversized ones: %v %v", resp, err)
	}
	if resp, err = client.ShouldRateLimit(ctx, rlsCall(freeDescriptor(0))); err != nil || resp.OverallCode != rlsv3.RateLimitResponse_OVER_LIMIT {
		t.Fatalf("the call at the caps was not counted: %v %v", resp, err)
	}
}

// BenchmarkOversizedCall shows what the caps buy: the CPU of one call of
// 10,000 descriptors, refused, beside a normal call (one descriptor, as
// Envoy sends for a route with one limit) and a call at the caps, all over
// loopback gRPC in this process. The refused call still pays for gRPC
// reading it (bounded by gRPC's 4 MB message limit), not for deciding it.
func BenchmarkOversizedCall(b *testing.B) {
	s := newService(b, limitsYAML, NewMemoryStore(nil), false, nil)
	client := serveRLS(b, s)
	ctx := context.Background()
	descs := func(n int) *rlsv3.RateLimitRequest {
		d := make([]*commonrlv3.RateLimitDescriptor, n)
		for i := range d {
			d[i] = freeDescriptor(0)
			d[i].Entries[0].Value = "per-route"
			d[i].Entries[1].Value = fmt.Sprintf("route-%d", i)
		}
		return rlsCall(d...)
	}
	for _, tc := range []struct {
		name    string
		req     *rlsv3.RateLimitRequest
		refused bool
	}{{"normal-1", descs(1), false}, {"at-caps-256", descs(MaxDescriptors), false}, {"refused-10000", descs(10_000), true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_, err := client.ShouldRateLimit(ctx, tc.req)
				if (err != nil) != tc.refused {
					b.Fatal(err)
				}
			}
		})
	}
}
