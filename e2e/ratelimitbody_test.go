package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestRateLimitRefusalCarriesRequestID: a 429 from a limit carries the
// request's id in its JSON body like every other refusal, whether the
// rate-limit filter asked Tollgate's rate-limit service (two calls) or
// ext_authz decided the limits (one call); the id is the one Envoy gave
// the request, as the access log shows, and the body keeps its fields.
func TestRateLimitRefusalCarriesRequestID(t *testing.T) {
	creds := newOneCallCredentials(t)
	for _, oneCall := range []bool{false, true} {
		s := startOneCallStack(t, creds, oneCall, "fail_open")
		var resp *http.Response
		var body []byte
		for range 3 { // per-anon admits 2
			req, err := newRequest("GET", s.base+"/orders", nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if resp, err = http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		var got struct {
			Error, Message, Limit string
			LimitType             string `json:"limit_type"`
			RetryAfter            *int64 `json:"retry_after_seconds"`
			RequestID             string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 429 {
			t.Fatalf("one call %v: %d %q (%v), want a JSON 429", oneCall, resp.StatusCode, body, err)
		}
		if got.Error != "rate_limited" || got.Limit != "per-anon" || got.LimitType == "" || got.Message == "" || got.RetryAfter == nil ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("one call %v: body %q, Content-Type %q: want rate_limited by per-anon with its fields", oneCall, body, resp.Header.Get("Content-Type"))
		}
		if got.RequestID == "" {
			t.Errorf("one call %v: body %q has no request_id", oneCall, body)
			continue
		}
		if e := waitEntry(t, s.accessLog.String, got.RequestID); e["status"] != float64(429) {
			t.Errorf("one call %v: the access log entry of request %s is %v, want its 429", oneCall, got.RequestID, e)
		}
	}
}
