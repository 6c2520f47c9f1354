package admin

import (
	"net/http/pprof"
)

// HandleProfiles serves Go's runtime profiles under /debug/pprof/ (CPU,
// heap, goroutines, ...), for `go tool pprof http://ADMIN/debug/pprof/profile`.
// It is off unless the operator asks (tollgate serve --admin-pprof): a CPU
// profile costs the process while it runs. Profiles hold code locations
// and sizes, never request data or secrets.
func (s *Server) HandleProfiles() {
	s.paths = append(s.paths, "/debug/pprof/")
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
