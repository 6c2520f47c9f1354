package ratelimiter

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Header is one response header to add.
type Header struct{ Name, Value string }

// Headers are the RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers)
// for a decision: on a refusal those of the limit that refused, plus
// Retry-After; on an admission those of the limit closest to refusing
// among the limits that ask for headers, or none.
func (d *Decision) Headers() []Header {
	st, ok := d.headerStatus()
	if !ok {
		return nil
	}
	r := st.Result
	h := make([]Header, 4, 6)
	h[0] = Header{"RateLimit-Limit", strconv.FormatInt(r.Limit, 10)}
	h[1] = Header{"RateLimit-Remaining", strconv.FormatInt(r.Remaining, 10)}
	h[2] = Header{"RateLimit-Reset", strconv.FormatInt(seconds(r.Reset), 10)}
	h[3] = Header{"RateLimit-Policy", st.Limit.policyHint}
	if !d.Allowed {
		h = append(h, Header{"Retry-After", strconv.FormatInt(seconds(r.RetryAfter), 10)}, Header{"Content-Type", "application/json"})
	}
	return h
}

func (d *Decision) headerStatus() (*Status, bool) {
	if !d.Allowed {
		return &d.Statuses[d.Refused], true
	}
	var best *Status
	for i := range d.Statuses {
		st := &d.Statuses[i]
		if st.Applied && st.Limit.Headers && !st.Limit.Shadow && (best == nil || st.Result.Remaining < best.Result.Remaining) {
			best = st
		}
	}
	return best, best != nil
}

// seconds rounds up to whole seconds, at least 1: a client told 0 would
// retry at once and be refused again.
func seconds(d time.Duration) int64 { return max(1, int64(math.Ceil(d.Seconds()))) }

// policyHeader describes a limit as RateLimit-Policy does: the quota, its
// window in seconds (for a token bucket, the time to earn a full burst),
// and the limit's name.
func policyHeader(l *Limit) string {
	w := l.Rule.Period
	if l.Rule.Algorithm == TokenBucket {
		w = time.Duration(float64(l.Rule.Period) * float64(l.Rule.Limit) / float64(l.Rule.Rate))
	}
	return fmt.Sprintf("%d;w=%d;name=%q", l.Rule.Limit, seconds(w), l.Name)
}

// refusalBody is the JSON body of a 429.
type refusalBody struct {
	Error             string `json:"error"`
	Message           string `json:"message"`
	Limit             string `json:"limit"`
	LimitType         string `json:"limit_type"`
	RetryAfterSeconds int64  `json:"retry_after_seconds"`
}

// Body is the JSON body for a refusal, naming the limit that refused, or
// nil for an admission.
func (d *Decision) Body() []byte {
	if d.Allowed {
		return nil
	}
	st := d.Statuses[d.Refused]
	body, _ := json.Marshal(refusalBody{
		Error:             "rate_limited",
		Message:           fmt.Sprintf("rate limit %q exceeded; retry later", st.Limit.Name),
		Limit:             st.Limit.Name,
		LimitType:         st.Limit.Type,
		RetryAfterSeconds: seconds(st.Result.RetryAfter),
	})
	return append(body, '\n')
}

// RefusingLimit names the limit that refused, or "".
func (d *Decision) RefusingLimit() string {
	if d.Allowed {
		return ""
	}
	return d.Statuses[d.Refused].Limit.Name
}
