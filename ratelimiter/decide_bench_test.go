package ratelimiter

import (
	"context"
	"testing"
)

// BenchmarkDecideMemory is one decision with three limits on the memory
// store, without gRPC: the limiter's own cost.
func BenchmarkDecideMemory(b *testing.B) {
	s := newService(b, benchYAML, NewMemoryStore(nil), false, nil)
	b.ReportAllocs()
	for i := range b.N {
		req := toRequest(benchRequest(i))
		d, _ := s.Decide(context.Background(), req)
		toResponse(d)
	}
}
