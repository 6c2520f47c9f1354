package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryTrimOncePerBurstOfReloads: the memory of replaced generations
// is returned after a reload, once for a burst of them.
func TestMemoryTrimOncePerBurstOfReloads(t *testing.T) {
	var freed atomic.Int32
	m := &memoryTrim{delay: 50 * time.Millisecond, free: func() { freed.Add(1) }}
	defer m.stop()
	for range 5 {
		m.generationApplied()
	}
	deadline := time.Now().Add(5 * time.Second)
	for freed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := freed.Load(); got != 1 {
		t.Fatalf("memory returned %d times after a burst of 5 reloads, want once", got)
	}
	time.Sleep(200 * time.Millisecond) // four times the delay: a second return would have come
	if got := freed.Load(); got != 1 {
		t.Errorf("memory returned %d times after a burst of 5 reloads, want once", got)
	}
}
