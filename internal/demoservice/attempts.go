package demoservice

import (
	"container/list"
	"sync"
)

// DefaultAttemptsCapacity is how many request ids an Attempts remembers:
// enough for any retry test, small enough for a long benchmark.
const DefaultAttemptsCapacity = 10000

// Attempts counts requests per x-request-id, so a service can tell a retry
// from a first try. It forgets the least recently seen ids beyond its
// capacity. It is safe for concurrent use; share one between instances to
// count retries that land on another instance.
type Attempts struct {
	mu    sync.Mutex // guards all fields: every request updates them
	cap   int
	order *list.List // of *attempt, most recently seen first
	byID  map[string]*list.Element
}

type attempt struct {
	id    string
	count int
}

// NewAttempts returns an empty counter remembering up to capacity ids;
// capacity <= 0 means DefaultAttemptsCapacity.
func NewAttempts(capacity int) *Attempts {
	if capacity <= 0 {
		capacity = DefaultAttemptsCapacity
	}
	return &Attempts{cap: capacity, order: list.New(), byID: make(map[string]*list.Element)}
}

// Next records one more request with id and returns its attempt number,
// starting at 1. An empty id cannot be correlated, so it is always attempt 1.
func (a *Attempts) Next(id string) int {
	if id == "" {
		return 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.byID[id]; ok {
		a.order.MoveToFront(e)
		at := e.Value.(*attempt)
		at.count++
		return at.count
	}
	a.byID[id] = a.order.PushFront(&attempt{id: id, count: 1})
	if a.order.Len() > a.cap {
		oldest := a.order.Back()
		a.order.Remove(oldest)
		delete(a.byID, oldest.Value.(*attempt).id)
	}
	return 1
}
