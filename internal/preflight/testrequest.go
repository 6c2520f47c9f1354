package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// Counters the test request must move. Envoy counts every request its
// connection managers take; its file access log counts every entry it
// writes (filesystem.write_buffered, before the flush to disk);
// Tollgate's access-log service counts every entry Envoy streams to it.
// Counters, not the log's content, because the log may be Envoy's stdout
// or a file on another machine: that the entry was written is what the
// checklist asks, and these counters move exactly then.
const (
	requestCounter = "envoy_http_downstream_rq_total"
	fileLogCounter = "envoy_filesystem_write_buffered"
	grpcLogCounter = "tollgate_accesslog_entries_total"
)

// statsSettleTimeout is how long the test request's counters may take to
// move (Envoy counts at once; Tollgate's log stream batches for about a
// second). A variable so that a test of a counter that never moves ends
// sooner.
var statsSettleTimeout = 10 * time.Second

// checkTestRequest sends one GET through the gateway and waits for the
// request counter and the access log's counter to move.
func checkTestRequest(ctx context.Context, p *policy.Policy, o LiveOptions) Result {
	const id, title = "test-request", "a test request shows in the access log and the metrics"
	urls := o.statsURLs()
	switch {
	case o.Gateway == "":
		return notApplicable(id, title, "no --gateway")
	case len(urls) == 0:
		return notApplicable(id, title, "no stats to find it in: give --envoy-admin or --prometheus")
	}
	logCounter, f := accessLogCounter(p)
	if f != nil {
		return f.result(id, title, "")
	}
	counters := []string{requestCounter, logCounter}
	before, err := scrape(ctx, o.Client, urls)
	if err != nil {
		return fails(id, title, "--envoy-admin/--prometheus", err.Error())
	}
	status, err := sendTestRequest(ctx, o)
	if err != nil {
		return fails(id, title, "--gateway", err.Error())
	}
	moved := waitCounters(ctx, o.Client, urls, before, counters)
	var out findings
	for _, c := range counters {
		if !moved[c] {
			out = append(out, Finding{At: counterPos(p, c), Message: fmt.Sprintf("%s did not move within %v of the test request (or is not in the stats given)", c, statsSettleTimeout)})
		}
	}
	return out.result(id, title, fmt.Sprintf("GET %s answered %d; counted in %s", o.Path, status, strings.Join(counters, " and ")))
}

func fails(id, title, at, msg string) Result {
	return Result{ID: id, Title: title, Status: Fail, Findings: []Finding{{At: at, Message: msg}}}
}

// accessLogCounter is the counter that shows the policy's access log
// wrote an entry; a disabled log is a finding of its own.
func accessLogCounter(p *policy.Policy) (string, findings) {
	switch a := p.AccessLog; {
	case a.Disabled:
		var f findings
		f.add(a.At("disabled"), "the access log is disabled: no request leaves a trace; remove disabled: true")
		return "", f
	case a.GRPC:
		return grpcLogCounter, nil
	}
	return fileLogCounter, nil
}

func counterPos(p *policy.Policy, counter string) string {
	if counter == requestCounter {
		return "--envoy-admin"
	}
	if counter == grpcLogCounter {
		return "--prometheus (Tollgate's /metrics)"
	}
	if a := p.AccessLog; a.Pos().File != "" {
		return a.Pos().String()
	}
	return "access_log (not written: " + p.AccessLog.Path + ")"
}

// sendTestRequest sends GET Path with a request id of its own, so that
// the entry can be found in the log by hand.
func sendTestRequest(ctx context.Context, o LiveOptions) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.Gateway, "/")+o.Path, nil)
	if err != nil {
		return 0, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	req.Header.Set("X-Request-Id", "tollgate-preflight-"+hex.EncodeToString(id[:]))
	req.Header.Set("User-Agent", "tollgate-preflight")
	resp, err := o.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("test request: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// waitCounters scrapes until every counter has grown past its value in
// before, or statsSettleTimeout passes, and says which grew.
func waitCounters(ctx context.Context, c *http.Client, urls []string, before Metrics, counters []string) map[string]bool {
	moved := map[string]bool{}
	deadline := time.Now().Add(statsSettleTimeout)
	for {
		if after, err := scrape(ctx, c, urls); err == nil {
			for _, name := range counters {
				was, _ := before.Sum(name, nil)
				if now, ok := after.Sum(name, nil); ok && now > was {
					moved[name] = true
				}
			}
		}
		if len(moved) == len(counters) || time.Now().After(deadline) {
			return moved
		}
		time.Sleep(200 * time.Millisecond)
	}
}
