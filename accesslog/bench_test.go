package accesslog

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// discardServer receives access-log streams and drops them: the cost of
// gRPC alone, the baseline of BenchmarkAccessLogService.
type discardServer struct {
	accesslogv3.UnimplementedAccessLogServiceServer
}

func (discardServer) StreamAccessLogs(s accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			return s.SendAndClose(&accesslogv3.StreamAccessLogsResponse{})
		} else if err != nil {
			return err
		}
	}
}

// streamEntries sends n entries in batches of 100 (Envoy's buffering
// sends batches too) to a server and waits until it has read them all.
func streamEntries(tb testing.TB, register func(*grpc.Server), n int) time.Duration {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	batch := make([]*accesslogdatav3.HTTPAccessLogEntry, 100)
	for i := range batch {
		batch[i] = sample()
	}
	msg := &accesslogv3.StreamAccessLogsMessage{LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: batch},
	}}
	start := time.Now()
	stream, err := accesslogv3.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for sent := 0; sent < n; sent += len(batch) {
		if err := stream.Send(msg); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkAccessLogService measures Tollgate's access-log service
// (convert, marshal, write to io.Discard) per entry, against a server that
// only receives the same stream, measured first in the same process.
func BenchmarkAccessLogService(b *testing.B) {
	const baselineEntries = 100_000
	baseline := streamEntries(b, func(g *grpc.Server) { accesslogv3.RegisterAccessLogServiceServer(g, discardServer{}) }, baselineEntries)
	s := NewServer(io.Discard, nil, nil)
	b.ResetTimer()
	perEntry := streamEntries(b, s.Register, max(b.N, 100))
	b.ReportMetric(float64(perEntry.Nanoseconds()), "ns/entry")
	b.ReportMetric(float64(baseline.Nanoseconds()), "ns/entry-baseline")
	b.ReportMetric(float64(perEntry)/float64(baseline), "x-baseline")
}
