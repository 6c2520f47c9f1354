package ratelimiter

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds how many decisions share one pipelined write to Redis:
// a batch's reply is read whole before any caller is answered, so a
// bigger batch would delay its first callers for its last ones.
const maxBatch = 64

// evalCall is one decision waiting for its EVALSHA: the script's keys and
// arguments, the caller's context (its deadline), and where the answer
// goes (buffered: the batcher never blocks on a caller who gave up).
type evalCall struct {
	ctx  context.Context
	keys []string
	args []any
	done chan evalReply
}

type evalReply struct {
	reply []int64
	err   error
}

// batcher auto-pipelines a single node's decisions. Decisions arriving
// while a pipeline is in flight wait for it to come back and then go
// together in the next one (at most maxBatch); a decision arriving while
// nothing is in flight is sent at once, alone, as a plain EVALSHA. So
// the wait a decision adds is at most one round trip under load and zero
// when idle, with no timer. The goroutine that sends exists only while
// there is something to send: it is started by the first decision after
// an idle period and ends when none are pending, so a store needs no
// Close.
type batcher struct {
	client  redis.UniversalClient
	metrics *Metrics

	mu      sync.Mutex
	pending []*evalCall
	running bool
}

// do sends call's script in the next batch and waits for its reply or for
// its context to end, whichever is first: a slow batch never holds a
// caller past its own deadline.
func (b *batcher) do(c *evalCall) ([]int64, error) {
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case r := <-c.done:
		if r.err != nil && atDeadline(c.ctx) {
			// The batch failed by the same deadline (go-redis's i/o
			// timeout): the caller's deadline is the reason to report.
			return nil, context.DeadlineExceeded
		}
		return r.reply, r.err
	case <-c.ctx.Done():
		return nil, c.ctx.Err()
	}
}

// deadlineSlack is how close to its deadline a caller counts as having
// reached it. The socket's deadline (set by go-redis from the batch's
// context) and the context's own timer are two clocks: the i/o timeout
// can be delivered a moment before ctx.Err() reports the deadline.
const deadlineSlack = 5 * time.Millisecond

// atDeadline reports whether ctx has ended or is within deadlineSlack of
// its deadline.
func atDeadline(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < deadlineSlack
}

// run sends batches until none are pending.
func (b *batcher) run() {
	for {
		batch := b.next()
		if batch == nil {
			return
		}
		b.send(batch)
	}
}

// next takes up to maxBatch pending calls whose callers still wait, or
// returns nil (and marks the batcher stopped) when there are none.
func (b *batcher) next() []*evalCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.pending) > 0 {
		n := min(len(b.pending), maxBatch)
		batch := make([]*evalCall, 0, n)
		for _, c := range b.pending[:n] {
			if c.ctx.Err() == nil { // a caller gone costs Redis nothing
				batch = append(batch, c)
			}
		}
		clear(b.pending[:n])
		b.pending = b.pending[n:]
		if len(batch) > 0 {
			return batch
		}
	}
	b.pending, b.running = nil, false
	return nil
}

// send runs one batch: a lone call as EVALSHA (falling back to EVAL),
// several in one pipeline, and answers each caller.
func (b *batcher) send(batch []*evalCall) {
	b.metrics.redisBatch.Observe(float64(len(batch)))
	ctx, cancel := batchContext(batch)
	defer cancel()
	if len(batch) == 1 {
		c := batch[0]
		reply, err := decideScript.Run(ctx, b.client, c.keys, c.args...).Int64Slice()
		c.done <- evalReply{reply, err}
		return
	}
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = decideScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, c := range batch {
		reply, err := cmds[i].Int64Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The node lost its scripts (restart, SCRIPT FLUSH): this
			// call loads it again; the rest of the batch find it there.
			reply, err = decideScript.Run(ctx, b.client, c.keys, c.args...).Int64Slice()
		}
		c.done <- evalReply{reply, err}
	}
}

// batchContext bounds a batch by the latest deadline among its callers
// (each decision's context already carries the store's timeout): a batch
// is not cut short for a caller who can still use it, and no caller waits
// for it past its own deadline anyway.
func batchContext(batch []*evalCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}
