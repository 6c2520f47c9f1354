package xds

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// adsStream is one ADS client stream as a test drives it, for either
// protocol: state of the world (sotwStream) or incremental (deltaStream).
// A goroutine moves responses to a channel, so that recv and expectNone
// can wait with a deadline.
type adsStream[Req, Resp any] struct {
	t      *testing.T
	node   *corev3.Node
	stream grpc.BidiStreamingClient[Req, Resp]
	resps  chan *Resp
	cancel context.CancelFunc
	first  bool
}

// sotwStream is a state-of-the-world ADS client stream.
type sotwStream struct {
	*adsStream[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
}

// deltaStream is an incremental ADS client stream.
type deltaStream struct {
	*adsStream[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]
}

func (x *testServer) sotw(t *testing.T, id, group string) *sotwStream {
	t.Helper()
	return &sotwStream{openStream(t, id, group, discoveryv3.NewAggregatedDiscoveryServiceClient(x.conn).StreamAggregatedResources)}
}

func (x *testServer) delta(t *testing.T, id, group string) *deltaStream {
	t.Helper()
	return &deltaStream{openStream(t, id, group, discoveryv3.NewAggregatedDiscoveryServiceClient(x.conn).DeltaAggregatedResources)}
}

// openStream opens a stream for node id in group, cancelled when the test
// ends.
func openStream[Req, Resp any](t *testing.T, id, group string,
	open func(context.Context, ...grpc.CallOption) (grpc.BidiStreamingClient[Req, Resp], error),
) *adsStream[Req, Resp] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &adsStream[Req, Resp]{t: t, node: &corev3.Node{Id: id, Cluster: group}, stream: stream,
		resps: make(chan *Resp, 16), cancel: cancel, first: true}
	go func() {
		defer close(s.resps)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			s.resps <- resp
		}
	}()
	return s
}

// send sends a request, with the node on the first one only, as Envoy
// does with set_node_on_first_message_only.
func (s *adsStream[Req, Resp]) send(req *Req) {
	s.t.Helper()
	if s.first {
		switch r := any(req).(type) {
		case *discoveryv3.DiscoveryRequest:
			r.Node = s.node
		case *discoveryv3.DeltaDiscoveryRequest:
			r.Node = s.node
		}
		s.first = false
	}
	if err := s.stream.Send(req); err != nil {
		s.t.Fatal(err)
	}
}

// recv returns the next response, failing the test after waitFor.
func (s *adsStream[Req, Resp]) recv() *Resp {
	s.t.Helper()
	select {
	case resp, ok := <-s.resps:
		if !ok {
			s.t.Fatal("stream closed")
		}
		return resp
	case <-time.After(waitFor):
		s.t.Fatal("no response")
	}
	return nil
}

// expectNone fails the test if a response arrives within d.
func (s *adsStream[Req, Resp]) expectNone(d time.Duration) {
	s.t.Helper()
	select {
	case resp := <-s.resps:
		typ := ""
		if r, ok := any(resp).(interface{ GetTypeUrl() string }); ok {
			typ = r.GetTypeUrl()
		}
		s.t.Fatalf("unexpected %s response", typ)
	case <-time.After(d):
	}
}

func (s *adsStream[Req, Resp]) close() {
	_ = s.stream.CloseSend()
	s.cancel()
}

// ack accepts a response as Envoy does: listeners and clusters stay
// wildcard subscriptions, routes and endpoints are asked for by name.
func (s *sotwStream) ack(resp *discoveryv3.DiscoveryResponse) {
	s.t.Helper()
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       resp.GetTypeUrl(),
		VersionInfo:   resp.GetVersionInfo(),
		ResponseNonce: resp.GetNonce(),
	}
	if t := resp.GetTypeUrl(); t == resourcev3.RouteType || t == resourcev3.EndpointType {
		req.ResourceNames = resourceNames(s.t, resp.GetResources())
	}
	s.send(req)
}

// nack rejects a state-of-the-world response as Envoy does: naming its
// nonce, with the version it last accepted (none here) and an error.
func (s *sotwStream) nack(resp *discoveryv3.DiscoveryResponse, msg string) {
	s.t.Helper()
	s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       resp.GetTypeUrl(),
		ResponseNonce: resp.GetNonce(),
		ErrorDetail:   status.New(codes.InvalidArgument, msg).Proto(),
	})
}

// nack rejects an incremental response as Envoy does: naming its nonce,
// with an error.
func (s *deltaStream) nack(resp *discoveryv3.DeltaDiscoveryResponse, msg string) {
	s.t.Helper()
	s.send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl:       resp.GetTypeUrl(),
		ResponseNonce: resp.GetNonce(),
		ErrorDetail:   status.New(codes.InvalidArgument, msg).Proto(),
	})
}

// subscribeAll subscribes to every served type in Envoy's order, ACKing
// each response, and returns the versions received.
func (s *sotwStream) subscribeAll(names map[string][]string) map[string]string {
	s.t.Helper()
	versions := map[string]string{}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
		s.send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, ResourceNames: names[typ]})
		resp := s.recv()
		if resp.GetTypeUrl() != typ {
			s.t.Fatalf("asked for %s, got %s", typ, resp.GetTypeUrl())
		}
		versions[typ] = resp.GetVersionInfo()
		s.ack(resp)
	}
	return versions
}
