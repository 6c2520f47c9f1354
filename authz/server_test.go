package authz

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

func TestAdapterDenial(t *testing.T) {
	f := newFixture(t, "")
	resp, err := NewServer(f.e).Check(context.Background(), checkRequest(nil))
	if err != nil {
		t.Fatalf("a denial must not be a gRPC error: %v", err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Errorf("status %v", resp.GetStatus())
	}
	denied := resp.GetDeniedResponse()
	if denied.GetStatus().GetCode() != 401 {
		t.Errorf("HTTP status %v", denied.GetStatus())
	}
	headers := map[string]string{}
	for _, h := range denied.GetHeaders() {
		headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if headers["content-type"] != "application/json" || headers["www-authenticate"] != `ApiKey realm="tollgate", header="X-API-Key", Bearer realm="tollgate"` &&
		headers["www-authenticate"] != `Bearer realm="tollgate", ApiKey realm="tollgate", header="X-API-Key"` {
		t.Errorf("headers %v", headers)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(denied.GetBody()), &body); err != nil {
		t.Fatal(err)
	}
	if body["error"] != "unauthorized" || body["request_id"] != "5f0c8b3e-7a1d-4c2e-9d7e-1a2b3c4d5e6f" || body["message"] == "" {
		t.Errorf("body %v", body)
	}
}

func TestAdapterAllowSetsHeadersAndMetadata(t *testing.T) {
	f := newFixture(t, "")
	s := NewServer(f.e)
	req := checkRequest(map[string]string{"x-api-key": f.keys["partner"]})
	resp, _ := s.Check(context.Background(), req)
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != 0 || ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got["x-tollgate-client-id"] != "partner" || got["x-tollgate-auth"] != "api_key" || got["x-tollgate-tier"] != "gold" {
		t.Errorf("headers %v", got)
	}
	if !slices.Equal(ok.GetHeadersToRemove(), []string{"x-api-key"}) {
		t.Errorf("the key header is forwarded: %v", ok.GetHeadersToRemove())
	}
	md := resp.GetDynamicMetadata().GetFields()
	if md["client_id"].GetStringValue() != "partner" || md["auth"].GetStringValue() != "api_key" || md["tier"].GetStringValue() != "gold" {
		t.Errorf("metadata %v", md)
	}
	if again, _ := s.Check(context.Background(), req); again != resp {
		t.Error("the answer for a known identity was rebuilt instead of reused")
	}
}

// Behind a load balancer Envoy's source address is the balancer's: the
// client's address for the logs is the x-real-ip the gateway resolved.
func TestAdapterClientIPIsTheResolvedAddress(t *testing.T) {
	peer := &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: "10.0.0.5"},
	}}}
	in := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: peer,
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Headers: map[string]string{"x-real-ip": "203.0.113.7"},
		}},
	}}
	if got := requestFrom(in).ClientIP; got != "203.0.113.7" {
		t.Errorf("ClientIP = %q, want x-real-ip's 203.0.113.7", got)
	}
	in.Attributes.Request.Http.Headers = nil
	if got := requestFrom(in).ClientIP; got != "10.0.0.5" {
		t.Errorf("ClientIP = %q without x-real-ip, want the peer 10.0.0.5", got)
	}
}
