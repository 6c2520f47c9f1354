package accesslog

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/internal/metric"
)

// Server receives Envoy's access-log streams and writes every HTTP entry
// as one JSON line.
type Server struct {
	accesslogv3.UnimplementedAccessLogServiceServer

	log     *slog.Logger
	entries prometheus.Counter
	errors  prometheus.Counter

	// mu guards out: entries from many Envoy streams arrive concurrently,
	// and each line must be written whole.
	mu  sync.Mutex
	out io.Writer
}

var _ accesslogv3.AccessLogServiceServer = (*Server)(nil)

// NewServer returns a server writing to out; its metrics are registered
// with reg unless it is nil.
func NewServer(out io.Writer, log *slog.Logger, reg prometheus.Registerer) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := metric.With(reg)
	return &Server{
		out:     out,
		log:     log,
		entries: f.Counter("tollgate_accesslog_entries_total", "Access-log entries received from Envoy over gRPC and written."),
		errors:  f.Counter("tollgate_accesslog_write_errors_total", "Access-log entries that could not be written to the sink."),
	}
}

// Register adds the access-log service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { accesslogv3.RegisterAccessLogServiceServer(g, s) }

// StreamAccessLogs writes the entries of one Envoy's stream until it ends.
// TCP entries are ignored: Tollgate configures HTTP access logs only.
func (s *Server) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&accesslogv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			s.write(FromHTTP(e))
		}
	}
}

// write appends one JSON line to the sink.
func (s *Server) write(e Entry) {
	line, err := json.Marshal(e)
	if err != nil {
		s.errors.Inc()
		return
	}
	line = append(line, '\n')
	s.mu.Lock()
	_, err = s.out.Write(line)
	s.mu.Unlock()
	if err != nil {
		s.errors.Inc()
		s.log.Warn("writing an access-log entry", "error", err)
		return
	}
	s.entries.Inc()
}
