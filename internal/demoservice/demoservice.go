// Package demoservice is the HTTP upstream behind the gateway in demos,
// tests and benchmarks. It answers every request with a JSON description of
// what it received, so a test can see what the gateway forwarded (rewritten
// paths, identity headers, retries), and it slows down or fails on request,
// so a test can drive timeouts, retries and health checks.
//
// Per-request controls, as a query parameter or a header (the query wins):
//
//	delay=250ms       x-demo-delay          answer after a pause
//	status=503        x-demo-status         answer with this status
//	fail_attempts=2   x-demo-fail-attempts  answer 503 to the first 2 attempts
//	                                        of an x-request-id, then normally
//
// GET /healthz answers 200 until POST /_demo/health?status=500 says otherwise.
//
// A WebSocket upgrade, at any path, is accepted and every message echoed
// back as it came (websocket.go).
package demoservice

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limits on what a request may ask for, so a typo cannot wedge a test run.
const (
	maxDelay        = time.Minute
	maxFailAttempts = 100
	maxBodyRead     = 1 << 20
)

// Reply is the JSON body of every answer except /healthz and /_demo/.
type Reply struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Query    string `json:"query"`
	// Headers maps lowercased names to values, several values joined by
	// ", ". It includes "host", which Go keeps apart from the other headers.
	Headers map[string]string `json:"headers"`
	// Attempt counts the requests seen with this x-request-id, from 1.
	Attempt int `json:"attempt"`
}

// Option adjusts a handler made by New.
type Option func(*handler)

// WithAttempts makes the handler count attempts in a, which may be shared by
// several instances so that a retry sent to another instance still counts.
func WithAttempts(a *Attempts) Option { return func(h *handler) { h.attempts = a } }

// WithLogger logs one line per echoed request to l.
func WithLogger(l *slog.Logger) Option { return func(h *handler) { h.log = l } }

// handler serves one instance of a service.
type handler struct {
	name, instance string
	attempts       *Attempts
	log            *slog.Logger
	health         atomic.Int32 // status /healthz answers; flipped by tests while requests run
}

// New returns the handler for the instance at address instance (host:port)
// of the service called name. Without WithAttempts it counts attempts on its
// own.
func New(name, instance string, opts ...Option) http.Handler {
	h := &handler{name: name, instance: instance}
	h.health.Store(http.StatusOK)
	for _, o := range opts {
		o(h)
	}
	if h.attempts == nil {
		h.attempts = NewAttempts(0)
	}
	return h
}

// ServeHTTP routes by exact path rather than with http.ServeMux, which
// would clean and redirect odd paths that gateway tests need to see as sent.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-demo-service", h.name)
	w.Header().Set("x-demo-instance", h.instance)
	switch {
	case isWebSocket(r):
		h.webSocketEcho(w, r)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		h.healthz(w)
	case "/_demo/health":
		h.setHealth(w, r)
	default:
		h.echo(w, r)
	}
}

func (h *handler) healthz(w http.ResponseWriter) {
	status := int(h.health.Load())
	writeJSON(w, status, map[string]any{"service": h.name, "instance": h.instance, "status": status})
}

// setHealth changes what /healthz answers, for health-check tests.
func (h *handler) setHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST /_demo/health?status=500")
		return
	}
	status, err := parseStatus(r.URL.Query().Get("status"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "status: "+err.Error())
		return
	}
	h.health.Store(int32(status)) //nolint:gosec // G115: parseStatus keeps it within 200-599
	writeJSON(w, http.StatusOK, map[string]any{"instance": h.instance, "health": status})
}

// echo answers with what it received, after applying the request's controls.
func (h *handler) echo(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	attempt := h.attempts.Next(r.Header.Get("x-request-id"))
	c, err := parseControls(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !sleep(r, c.delay) {
		return // the client (or the gateway's timeout) gave up
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBodyRead)) // a body cut short is the client's problem
	status := c.status
	if attempt <= c.failAttempts {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h.reply(r, attempt))
	if h.log != nil {
		h.log.Info("request", "service", h.name, "instance", h.instance, "method", r.Method,
			"path", r.URL.Path, "status", status, "attempt", attempt, "duration", time.Since(start))
	}
}

func (h *handler) reply(r *http.Request, attempt int) Reply {
	headers := make(map[string]string, len(r.Header)+1)
	for name, values := range r.Header {
		headers[strings.ToLower(name)] = strings.Join(values, ", ")
	}
	headers["host"] = r.Host
	return Reply{
		Service:  h.name,
		Instance: h.instance,
		Method:   r.Method,
		Path:     r.URL.EscapedPath(),
		Query:    r.URL.RawQuery,
		Headers:  headers,
		Attempt:  attempt,
	}
}

// sleep waits d unless the request is cancelled first; it reports whether
// the request is still wanted.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// controls are what a request asks of the service.
type controls struct {
	delay        time.Duration
	status       int
	failAttempts int
}

func parseControls(r *http.Request) (controls, error) {
	c := controls{status: http.StatusOK}
	var err error
	if v := control(r, "delay", "x-demo-delay"); v != "" {
		c.delay, err = time.ParseDuration(v)
		if err != nil || c.delay < 0 || c.delay > maxDelay {
			return c, fmt.Errorf("delay %q: want a duration from 0s to %v, like 250ms", v, maxDelay)
		}
	}
	if v := control(r, "status", "x-demo-status"); v != "" {
		if c.status, err = parseStatus(v); err != nil {
			return c, fmt.Errorf("status: %w", err)
		}
	}
	if v := control(r, "fail_attempts", "x-demo-fail-attempts"); v != "" {
		c.failAttempts, err = strconv.Atoi(v)
		if err != nil || c.failAttempts < 0 || c.failAttempts > maxFailAttempts {
			return c, fmt.Errorf("fail_attempts %q: want a number from 0 to %d", v, maxFailAttempts)
		}
	}
	return c, nil
}

// control reads one control, from the query or else the header.
func control(r *http.Request, param, header string) string {
	if v := r.URL.Query().Get(param); v != "" {
		return v
	}
	return r.Header.Get(header)
}

// parseStatus accepts final HTTP statuses; 1xx cannot be a whole answer.
func parseStatus(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("%q: want a number from 200 to 599", v)
	}
	return n, nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a failed write means the client left; nothing to do
}
