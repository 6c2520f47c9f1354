package testenv

import (
	"bytes"
	"sync"
)

// Buffer collects output written from other goroutines (a process's
// stdout, a logger) for a test to read while the writers still run; a
// mutex guards the bytes, since exec and slog write from their own
// goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
