package demoservice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server serves one service on one or more addresses, one instance per
// address, as cmd/demo-service and cmd/devstack run it and as tests may.
type Server struct {
	servers []*http.Server
	addrs   []string
	errs    chan error // one value per instance when it stops serving
}

// Start binds every address (host:port; port 0 picks a free one) and serves
// an instance of name on each. The instances share one Attempts unless opts
// give one. If any address cannot be bound, nothing is left listening.
func Start(name string, addrs []string, opts ...Option) (*Server, error) {
	if len(addrs) == 0 {
		return nil, errors.New("demo service: no address to listen on")
	}
	listeners, err := listenAll(addrs)
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithAttempts(NewAttempts(0))}, opts...)
	s := &Server{errs: make(chan error, len(listeners))}
	for _, l := range listeners {
		addr := l.Addr().String()
		srv := &http.Server{
			Handler:           New(name, addr, opts...),
			ReadHeaderTimeout: 10 * time.Second,
		}
		s.servers = append(s.servers, srv)
		s.addrs = append(s.addrs, addr)
		go func() { s.errs <- srv.Serve(l) }()
	}
	return s, nil
}

func listenAll(addrs []string) ([]net.Listener, error) {
	var ls []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, open := range ls {
				open.Close()
			}
			return nil, fmt.Errorf("demo service: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// Addrs are the bound addresses, in the order given to Start; they are also
// what each instance reports as "instance".
func (s *Server) Addrs() []string { return s.addrs }

// Err receives the error of any instance that stops serving on its own
// (http.ErrServerClosed after Shutdown).
func (s *Server) Err() <-chan error { return s.errs }

// Shutdown stops every instance gracefully, letting requests in flight
// finish until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
