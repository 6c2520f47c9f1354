package ratelimiter

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// Header is one response header to add.
type Header struct{ Name, Value string }

// Headers are the rate-limit response headers of a decision, in the
// policy's format (policy.RateLimitHeaderFormat; the same for every limit
// of a generation). They speak of the limits that ask for headers
// (headers: true) and applied, and on a refusal of the limit that refused,
// whether it asks or not; an admission no such limit applied to gets none.
// A refusal adds Retry-After and the JSON body's Content-Type in every
// format. Every response path (the rate-limit service, and any caller that
// decides with a Service) builds its headers here.
//
// The draft format (draft-ietf-httpapi-ratelimit-headers-07 and later):
//   - RateLimit-Policy lists each of those limits, in the order of the
//     request's descriptors: "name";q=QUOTA;w=WINDOW. Quotas are static,
//     so listing every one is always true and tells a client all it must
//     respect.
//   - RateLimit has one item, "name";r=REMAINING;t=SECONDS, of the limit
//     that refused or, on an admission, of the one closest to refusing:
//     the binding one, which is what a client paces by. The others are not
//     listed because on a refusal their counters were not charged (and,
//     from the over-limit cache, not read), so their r would be wrong.
//
// The legacy format (draft-06) sends RateLimit-Limit, -Remaining, -Reset
// and RateLimit-Policy: 100;w=60;name="x" of that same one limit.
func (d *Decision) Headers() []Header {
	st, ok := d.headerStatus()
	if !ok {
		return nil
	}
	format := st.Limit.Format
	h := make([]Header, 0, 7)
	if format == policy.HeadersDraft || format == policy.HeadersBoth {
		h = append(h, Header{"RateLimit-Policy", d.policyList()}, Header{"RateLimit", rateLimitItem(st, d.Allowed)})
	}
	if format == policy.HeadersLegacy || format == policy.HeadersBoth {
		r := st.Result
		h = append(h,
			Header{"RateLimit-Limit", strconv.FormatInt(r.Limit, 10)},
			Header{"RateLimit-Remaining", strconv.FormatInt(r.Remaining, 10)},
			Header{"RateLimit-Reset", strconv.FormatInt(seconds(r.Reset), 10)})
	}
	if format == policy.HeadersLegacy {
		h = append(h, Header{"RateLimit-Policy", st.Limit.legacyPolicy})
	}
	if !d.Allowed {
		h = append(h, Header{"Retry-After", strconv.FormatInt(seconds(st.Result.RetryAfter), 10)}, Header{"Content-Type", "application/json"})
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

// headerStatus is the status the headers speak of: the refusing one, or
// among the limits that ask for headers the one with the fewest requests
// remaining.
func (d *Decision) headerStatus() (*Status, bool) {
	if !d.Allowed {
		return &d.Statuses[d.Refused], true
	}
	var best *Status
	for i := range d.Statuses {
		st := &d.Statuses[i]
		if d.listsPolicy(i) && (best == nil || st.Result.Remaining < best.Result.Remaining) {
			best = st
		}
	}
	return best, best != nil
}

// listsPolicy reports whether status i's limit is one the headers speak
// of: the refusing limit, or an applied limit that asks for headers and
// can refuse (a shadow limit never does, so a client has no use for it).
func (d *Decision) listsPolicy(i int) bool {
	st := &d.Statuses[i]
	return i == d.Refused || st.Applied && st.Limit.Headers && !st.Limit.Shadow
}

// policyList is the draft's RateLimit-Policy value: the item of every
// limit listsPolicy accepts, each once, in descriptor order. The common
// case of one limit costs no allocation, and several cost one (the list
// is built on the stack first).
func (d *Decision) policyList() string {
	var one *Limit
	var buf [256]byte
	b := buf[:0]
	for i := range d.Statuses {
		if !d.listsPolicy(i) || d.listedBefore(i) {
			continue
		}
		l := d.Statuses[i].Limit
		switch {
		case one == nil:
			one = l
		case len(b) == 0:
			b = append(append(append(b, one.policyItem...), ", "...), l.policyItem...)
		default:
			b = append(append(b, ", "...), l.policyItem...)
		}
	}
	if len(b) == 0 {
		return one.policyItem
	}
	return string(b)
}

// listedBefore reports whether status i's limit is already listed by an
// earlier status (a limit named twice in one request).
func (d *Decision) listedBefore(i int) bool {
	for j := range i {
		if d.Statuses[j].Limit == d.Statuses[i].Limit && d.listsPolicy(j) {
			return true
		}
	}
	return false
}

// rateLimitItem is the draft's RateLimit value for one status: its
// remaining quota and the seconds until more is available. On a refusal
// that is Retry-After; on an admission the status's Reset (a token bucket
// full again, a window's next slot free), as RateLimit-Reset had it.
func rateLimitItem(st *Status, allowed bool) string {
	t := st.Result.Reset
	if !allowed {
		t = st.Result.RetryAfter
	}
	var buf [112]byte // a quoted name of at most 63 characters and two integers
	b := append(buf[:0], st.Limit.sfName...)
	b = appendSFParam(b, "r", st.Result.Remaining)
	b = appendSFParam(b, "t", seconds(t))
	return string(b)
}

// seconds rounds up to whole seconds, at least 1: a client told 0 would
// retry at once and be refused again.
func seconds(d time.Duration) int64 { return max(1, int64(math.Ceil(d.Seconds()))) }

// window is the limit's window as RateLimit-Policy reports it: a window's
// length, or for a token bucket the time to earn a full burst.
func window(l *Limit) time.Duration {
	if l.Rule.Algorithm == TokenBucket {
		return time.Duration(float64(l.Rule.Period) * float64(l.Rule.Limit) / float64(l.Rule.Rate))
	}
	return l.Rule.Period
}

// draftPolicyItem is the limit's item of the draft's RateLimit-Policy:
// its name, quota (q) and window in seconds (w). The quota unit (qu) is
// left at the draft's default, requests; the partition key (pk) is not
// sent, because it would be derived from the caller's address or
// credentials, which a response should not echo.
func draftPolicyItem(l *Limit) string {
	b := appendSFString(nil, l.Name)
	b = appendSFParam(b, "q", l.Rule.Limit)
	b = appendSFParam(b, "w", seconds(window(l)))
	return string(b)
}

// legacyPolicyHeader describes a limit as draft-06's RateLimit-Policy
// does: the quota, its window in seconds, and the limit's name.
func legacyPolicyHeader(l *Limit) string {
	return fmt.Sprintf("%d;w=%d;name=%q", l.Rule.Limit, seconds(window(l)), l.Name)
}

// refusalBody is the JSON body of a 429. Its fields are in the order of
// their names, the order in which Envoy writes the body it builds from
// BodyFields, so that both paths send the same bytes.
type refusalBody struct {
	Error             string `json:"error"`
	Limit             string `json:"limit"`
	LimitType         string `json:"limit_type"`
	Message           string `json:"message"`
	RequestID         string `json:"request_id,omitempty"`
	RetryAfterSeconds int64  `json:"retry_after_seconds"`
}

// Body is the JSON body for a refusal, naming the limit that refused and
// the request's id (x-request-id; left out when ""), or nil for an
// admission. The rate-limit service is not told the request's id: Envoy
// builds the body it sends from BodyFields and the id instead
// (xds/localreplies.go).
func (d *Decision) Body(requestID string) []byte {
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
		RequestID:         requestID,
	})
	return append(body, '\n')
}

// BodyFields are Body's fields but the request id, for the dynamic
// metadata of the rate-limit service's refusal, from which Envoy writes
// the client's body with the id it alone knows; nil for an admission.
func (d *Decision) BodyFields() map[string]any {
	if d.Allowed {
		return nil
	}
	st := d.Statuses[d.Refused]
	return map[string]any{
		"error":               "rate_limited",
		"message":             fmt.Sprintf("rate limit %q exceeded; retry later", st.Limit.Name),
		"limit":               st.Limit.Name,
		"limit_type":          st.Limit.Type,
		"retry_after_seconds": seconds(st.Result.RetryAfter),
	}
}

// RefusingLimit names the limit that refused, or "".
func (d *Decision) RefusingLimit() string {
	if d.Allowed {
		return ""
	}
	return d.Statuses[d.Refused].Limit.Name
}
