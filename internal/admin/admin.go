// Package admin serves Tollgate's operator HTTP endpoints: /metrics,
// /healthz, /readyz and the /debug pages. It listens on loopback unless the
// operator configures another address, because the debug pages describe the
// whole gateway.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the admin HTTP server.
type Server struct {
	mux   *http.ServeMux
	ready func() error
	// detail, if set, adds lines to /readyz's body whatever the answer.
	detail func() string
	log    *slog.Logger
	// paths are the endpoints served, listed by the index page.
	paths []string
}

// New returns an admin server exposing the metrics of g. ready reports nil
// once the process can serve (the first policy is loaded).
func New(g prometheus.Gatherer, ready func() error, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), ready: ready, log: log, paths: []string{"/metrics", "/healthz", "/readyz"}}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /{$}", s.index)
	return s
}

// index lists the endpoints, so that an operator who opens the admin
// address finds the rest.
func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Tollgate admin endpoints:\n"))
	for _, p := range s.paths {
		_, _ = w.Write([]byte("  " + p + "\n"))
	}
}

// ReadyDetail adds the lines fn returns to every /readyz answer, so that
// an operator sees what is serving and what was refused, not only a status.
func (s *Server) ReadyDetail(fn func() string) { s.detail = fn }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	detail := ""
	if s.detail != nil {
		detail = s.detail()
	}
	if err := s.ready(); err != nil {
		http.Error(w, "not ready: "+err.Error()+"\n"+detail, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n" + detail))
}

// HandleJSON serves the value returned by fn as indented JSON at path. fn
// must already have redacted any secret.
func (s *Server) HandleJSON(path string, fn func() any) {
	s.paths = append(s.paths, path)
	s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(fn()); err != nil {
			s.log.Warn("admin: writing response", "path", path, "error", err)
		}
	})
}

// Handle serves h for GET requests at pattern (a ServeMux path pattern,
// "/status" or "/status/{file}") and lists pattern on the index page.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.paths = append(s.paths, pattern)
	s.mux.Handle("GET "+pattern, h)
}

// Serve listens on addr and serves until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
