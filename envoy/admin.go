package envoy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pollInterval is how often the Wait helpers ask the admin interface again:
// quick enough for tests, slow enough not to load Envoy's main thread.
const pollInterval = 50 * time.Millisecond

// WaitLive waits until /ready answers LIVE, which Envoy does once its
// initial configuration has arrived (or its initial fetch timed out). It
// waits until ctx is done, or DefaultReadyTimeout if ctx has no deadline.
func (p *Process) WaitLive(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	last := "no answer"
	for {
		code, body, err := p.get(ctx, "/ready")
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK && strings.TrimSpace(string(body)) == "LIVE":
			return nil
		default:
			last = strings.TrimSpace(string(body))
		}
		if err := p.pause(ctx); err != nil {
			return fmt.Errorf("envoy not LIVE (last /ready: %s): %w", last, err)
		}
	}
}

// ConfigDump returns /config_dump, including endpoints (EDS), as JSON.
func (p *Process) ConfigDump(ctx context.Context) ([]byte, error) {
	return p.getOK(ctx, "/config_dump?include_eds")
}

// Stats returns Envoy's counters, gauges and text readouts whose names match
// the regular expression filter ("" for all), by name. Histograms are left
// out: their values are not single numbers.
func (p *Process) Stats(ctx context.Context, filter string) (map[string]string, error) {
	q := url.Values{"format": {"json"}}
	if filter != "" {
		q.Set("filter", filter)
	}
	body, err := p.getOK(ctx, "/stats?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return parseStats(body)
}

// parseStats reads /stats?format=json: {"stats": [{"name": n, "value": v},
// …, {"histograms": …}]}, where v is a number or, for text readouts, a string.
func parseStats(body []byte) (map[string]string, error) {
	var doc struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("envoy stats: %w", err)
	}
	stats := make(map[string]string, len(doc.Stats))
	for _, s := range doc.Stats {
		if s.Name == "" {
			continue // the histograms entry
		}
		var text string
		if json.Unmarshal(s.Value, &text) != nil {
			text = string(s.Value)
		}
		stats[s.Name] = text
	}
	return stats, nil
}

// WaitForStat waits until the counter or gauge called name exists and cond
// holds for its value. It waits until ctx is done, or DefaultReadyTimeout if
// ctx has no deadline; a stat that does not exist yet (a cluster's, before
// the cluster arrives) is waited for, not an error.
func (p *Process) WaitForStat(ctx context.Context, name string, cond func(v int64) bool) error {
	ctx, cancel := withDefaultTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	filter := "^" + regexp.QuoteMeta(name) + "$"
	last := "absent"
	for {
		stats, err := p.Stats(ctx, filter)
		if err == nil {
			if text, ok := stats[name]; ok {
				last = text
				if v, err := strconv.ParseInt(text, 10, 64); err == nil && cond(v) {
					return nil
				}
			}
		}
		if err := p.pause(ctx); err != nil {
			return fmt.Errorf("envoy stat %s (last value: %s): %w", name, last, err)
		}
	}
}

// pause waits one poll interval, or returns why it should stop waiting.
func (p *Process) pause(ctx context.Context) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-p.done:
		return fmt.Errorf("envoy exited (%v)", p.waitErr)
	case <-t.C:
		return nil
	}
}

// getOK fetches an admin path and insists on 200 OK.
func (p *Process) getOK(ctx context.Context, path string) ([]byte, error) {
	code, body, err := p.get(ctx, path)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("envoy admin %s: %d %s", path, code, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// get fetches an admin path; each request is bounded so a wedged Envoy
// cannot hang a test beyond its own deadline.
func (p *Process) get(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.adminURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
