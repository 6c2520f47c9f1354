package e2e

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakeCollector is an OTLP/gRPC endpoint that keeps the raw bytes of every
// call, without depending on the OTLP protos: requests are read into an
// Empty message, whose unknown fields keep the whole payload, and an empty
// reply is a valid ExportTraceServiceResponse.
type fakeCollector struct {
	addr string
	mu   sync.Mutex
	// calls holds the gRPC method and the payload of each call.
	calls []collectorCall
}

type collectorCall struct {
	method  string
	payload []byte
}

func startCollector(t *testing.T) *fakeCollector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCollector{addr: lis.Addr().String()}
	g := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		msg := &emptypb.Empty{}
		if err := stream.RecvMsg(msg); err != nil {
			return err
		}
		c.mu.Lock()
		c.calls = append(c.calls, collectorCall{method, proto.Clone(msg).ProtoReflect().GetUnknown()})
		c.mu.Unlock()
		return stream.SendMsg(&emptypb.Empty{})
	}))
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return c
}

// exported reports whether a trace id was exported through the OTLP trace
// service.
func (c *fakeCollector) exported(traceID string) (bool, []string) {
	id, _ := hex.DecodeString(traceID)
	c.mu.Lock()
	defer c.mu.Unlock()
	var methods []string
	for _, call := range c.calls {
		methods = append(methods, call.method)
		if call.method == "/opentelemetry.proto.collector.trace.v1.TraceService/Export" && strings.Contains(string(call.payload), string(id)) {
			return true, methods
		}
	}
	return false, methods
}

func TestSpansAreExportedToTheCollector(t *testing.T) {
	t.Parallel()
	collector := startCollector(t)
	g := startObservedGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders", "users") + observedRoutes,
		"log.yaml":     "access_log: { disabled: true }\ntracing: { collector: \"" + collector.addr + "\", service_name: e2e-gateway }\n",
	}, "/orders")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	// Envoy sends spans in batches of 5 (or every 5s).
	for range 5 {
		send(t, "GET", g.base+"/orders", map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}, "")
	}
	eventually(t, 15*time.Second, func() error {
		if ok, methods := collector.exported(traceID); !ok {
			return fmt.Errorf("trace not exported yet; calls so far: %v", methods)
		}
		return nil
	})
}
