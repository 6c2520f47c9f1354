package xds

import (
	"sync"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// Backoff of the re-offers of a rejected configuration: the first comes a
// second after the NACK, each next one after twice as long, up to
// maxRetryDelay.
const (
	firstRetryDelay = time.Second
	maxRetryDelay   = 30 * time.Second
)

// retryDelay is how long to wait before re-offering a configuration an
// Envoy has rejected attempts times in a row.
func retryDelay(attempts int) time.Duration {
	d := firstRetryDelay
	for i := 1; i < attempts && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// retryRejected is a snapshot cache that offers a rejected configuration
// again after a backoff, so that an Envoy that could not apply it for a
// passing reason (a listener port still in use, a file not yet there)
// applies it once the reason has gone, without a policy change.
//
// Why: the Server makes a NACK name the rejected version (see
// callbacks.OnStreamRequest), so that the cache waits for the next
// snapshot instead of sending the rejected version again at once, in a
// loop. Waiting for the next snapshot alone would leave the Envoy without
// the configuration until the policy changes. A watch opened by a NACK
// therefore also ends when its backoff passes: it is then asked again as if
// the rejected version had never been sent, and the cache answers at once
// with the version it serves. A new snapshot still answers at once.
//
// It relies on go-control-plane v0.14.0's snapshot cache answering at once
// a request with no version (snapshotCache.CreateWatch,
// pkg/cache/v3/simple.go) and a delta watch whose subscription holds none
// of the type's resources (createDeltaResponse, pkg/cache/v3/delta.go), on
// a watch getting at most one response, and on the server cancelling a
// watch before it changes the watch's subscription (server.process,
// pkg/server/sotw/v3/xds.go), since the subscription the cache is given
// shares its map of returned resources with the server's. Each is pinned
// in upstream_test.go (TestSnapshotCacheAnswersByRequestVersion,
// TestSnapshotCacheDeltaSendsWhatTheSubscriptionLacks,
// TestSnapshotCacheAnswersAWatchOnce,
// TestServerCancelsAWatchBeforeChangingItsSubscription).
//
// delay says, for a NACK of a type by a node, how long to wait; ok false
// means no re-offer. Watches opened by other requests pass untouched.
type retryRejected struct {
	cachev3.SnapshotCache
	delay func(nodeID, typeURL string) (d time.Duration, ok bool)
}

var _ cachev3.SnapshotCache = (*retryRejected)(nil)

// CreateWatch opens a state-of-the-world watch that, for a NACK, re-asks
// the cache once its backoff has passed.
func (c *retryRejected) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	d, ok := c.retryAfter(req.GetErrorDetail() != nil, req.GetNode().GetId(), req.GetTypeUrl())
	if !ok {
		return c.SnapshotCache.CreateWatch(req, sub, out)
	}
	again := proto.Clone(req).(*cachev3.Request)
	again.VersionInfo = "" // as if nothing had been sent: the cache answers at once
	again.ErrorDetail = nil
	return retryWatch(d, out,
		func(in chan cachev3.Response) (func(), error) { return c.SnapshotCache.CreateWatch(req, sub, in) },
		func(in chan cachev3.Response) (func(), error) { return c.SnapshotCache.CreateWatch(again, sub, in) })
}

// CreateDeltaWatch opens a delta watch that, for a NACK, re-asks the cache
// once its backoff has passed, as if the Envoy had none of the type's
// resources, so that the cache sends every one it subscribes to again.
func (c *retryRejected) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	d, ok := c.retryAfter(req.GetErrorDetail() != nil, req.GetNode().GetId(), req.GetTypeUrl())
	if !ok {
		return c.SnapshotCache.CreateDeltaWatch(req, sub, out)
	}
	again := proto.Clone(req).(*cachev3.DeltaRequest)
	again.ErrorDetail = nil
	return retryWatch(d, out,
		func(in chan cachev3.DeltaResponse) (func(), error) {
			return c.SnapshotCache.CreateDeltaWatch(req, sub, in)
		},
		func(in chan cachev3.DeltaResponse) (func(), error) {
			return c.SnapshotCache.CreateDeltaWatch(again, forgotten{sub}, in)
		})
}

// retryAfter is the backoff before re-offering, for a NACK only.
func (c *retryRejected) retryAfter(nack bool, nodeID, typeURL string) (time.Duration, bool) {
	if !nack || c.delay == nil {
		return 0, false
	}
	return c.delay(nodeID, typeURL)
}

// forgotten is a delta subscription whose Envoy is taken to hold none of
// the type's resources.
type forgotten struct{ cachev3.Subscription }

// ReturnedResources is empty: every subscribed resource is sent again.
func (forgotten) ReturnedResources() map[string]string { return map[string]string{} }

// retryWatch runs open, then, if it has not answered after d, cancels it
// and runs again; the first answer of either is forwarded to out.
//
// Both watches answer through a channel of retryWatch's own with room for
// one response, so the cache (which sends while holding its lock) never
// blocks on it. As with the cache itself, nothing is forwarded once the
// returned cancel has returned, and the send to out does not block: the
// server gives every watch room for its response. The subscription the
// server passed is read by the second watch only while holding mu, and the
// server changes it only after cancelling, which waits for mu.
func retryWatch[R any](d time.Duration, out chan R, open, again func(chan R) (func(), error)) (func(), error) {
	w := &retrying[R]{out: out, in: make(chan R, 1), again: again, done: make(chan struct{})}
	var err error
	if w.cancelInner, err = open(w.in); err != nil {
		return w.cancelInner, err
	}
	go w.run(d)
	return w.cancel, nil
}

// retrying is one watch of retryWatch.
type retrying[R any] struct {
	out, in chan R
	again   func(chan R) (func(), error)
	done    chan struct{} // closed by cancel

	mu          sync.Mutex // guards cancelled, cancelInner and the send to out
	cancelled   bool
	cancelInner func()
	once        sync.Once
}

// run forwards the first answer, opening the second watch after d.
func (w *retrying[R]) run(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case resp := <-w.in:
		w.forward(resp)
		return
	case <-w.done:
		return
	case <-timer.C:
	}
	if !w.reopen() {
		return
	}
	select {
	case resp := <-w.in:
		w.forward(resp)
	case <-w.done:
	}
}

// reopen replaces the first watch with the second, unless the watch was
// cancelled or the first answered meanwhile (then forwarded here). It
// reports whether to wait for the second watch's answer.
func (w *retrying[R]) reopen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancelled {
		return false
	}
	if w.cancelInner != nil {
		w.cancelInner()
	}
	select {
	case resp := <-w.in: // answered just before it was cancelled
		w.out <- resp
		return false
	default:
	}
	c, err := w.again(w.in)
	w.cancelInner = c
	return err == nil // on error the Envoy's next request opens a new watch
}

// forward sends resp on, unless the watch was cancelled.
func (w *retrying[R]) forward(resp R) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.cancelled {
		w.out <- resp
	}
}

// cancel ends the watch; nothing is forwarded once it has returned.
func (w *retrying[R]) cancel() {
	w.once.Do(func() {
		close(w.done)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.cancelled = true
		if w.cancelInner != nil {
			w.cancelInner()
		}
	})
}
