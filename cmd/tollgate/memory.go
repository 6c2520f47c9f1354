package main

import (
	"runtime/debug"
	"sync"
	"time"
)

// trimDelay is how long after a generation is applied its predecessor's
// memory is returned: long enough for the Envoys to have fetched the new
// configuration, so that nothing of the old one is still being sent.
const trimDelay = 5 * time.Second

// memoryTrim returns the memory of replaced policy generations to the
// operating system, once, trimDelay after the last generation applied.
//
// Why: translating a generation allocates several times what it keeps
// (YAML, the policy, Envoy resources and their marshalled form), and the
// generation it replaces becomes garbage at once. Go returns freed memory
// to the system only after a collection has lowered its heap goal, and an
// idle control plane collects only every two minutes: a 20,000-route
// policy shrunk back to 1,000 routes left 192 MiB resident for a 9 MiB
// live heap 150 s later (docs/benchmarks.md, "Memory"). debug.FreeOSMemory
// forces the collection and the return. It costs one full collection,
// proportional to the live heap (milliseconds for thousands of routes), per
// applied reload; reloads are rare and each already costs a translation.
type memoryTrim struct {
	delay time.Duration
	free  func()

	mu    sync.Mutex // guards timer
	timer *time.Timer
}

func newMemoryTrim() *memoryTrim { return &memoryTrim{delay: trimDelay, free: debug.FreeOSMemory} }

// generationApplied schedules the return, replacing one already scheduled,
// so that a burst of reloads costs one collection.
func (m *memoryTrim) generationApplied() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(m.delay, m.free)
}

// stop cancels a scheduled return.
func (m *memoryTrim) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
}
