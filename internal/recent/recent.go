// Package recent keeps the last few events of a kind (authorization
// denials, rate-limit refusals) in memory for the status page: a fixed-size
// ring, so that a flood of events costs no memory beyond its size.
package recent

import "sync"

// Ring holds the last n values added. It is safe for concurrent use: Add
// is called on request paths, List by the admin server; mu guards both.
type Ring[T any] struct {
	mu   sync.Mutex
	buf  []T
	next int // where the next value goes
	full bool
}

// New returns a ring keeping the last n values (n >= 1).
func New[T any](n int) *Ring[T] {
	return &Ring[T]{buf: make([]T, max(n, 1))}
}

// Add records v, forgetting the oldest value once the ring is full.
func (r *Ring[T]) Add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// List returns the values held, newest first.
func (r *Ring[T]) List() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]T, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
