package ratelimiter

import (
	"context"
	"testing"
)

// BenchmarkDecideMemory is one decision with three limits on the memory
// store, without gRPC: the limiter's own cost, including building the
// request proto (as gRPC's unmarshalling would) and the response proto.
func BenchmarkDecideMemory(b *testing.B) {
	s := newService(b, benchYAML, NewMemoryStore(nil), false, nil)
	srv := NewServer(s)
	b.ReportAllocs()
	for i := range b.N {
		req := toRequest(benchRequest(i))
		d, _ := s.Decide(context.Background(), req)
		toResponse(d, srv.protos())
	}
}

// BenchmarkDecideMemoryPrebuilt is BenchmarkDecideMemory over request
// protos built before the timer starts: only what the server does per
// call (proto → request, decision, response proto).
func BenchmarkDecideMemoryPrebuilt(b *testing.B) {
	s := newService(b, benchYAML, NewMemoryStore(nil), false, nil)
	srv := NewServer(s)
	reqs := benchRequests(1 << 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d, _ := s.Decide(context.Background(), toRequest(reqs[i%len(reqs)]))
		toResponse(d, srv.protos())
	}
}
