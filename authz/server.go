package authz

import (
	"context"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

// RouteContextKey is the context extension through which Envoy's per-route
// ext_authz config names the policy route (see xds/extauthz.go).
const RouteContextKey = "route"

// LimitsContextKey is the context extension through which a route asks
// for its rate limits to be decided in the same Check (xds/extauthz.go);
// LimitsWithAuth is its value. Package admission serves such routes.
const (
	LimitsContextKey = "limits"
	LimitsWithAuth   = "with_auth"
)

// MetadataNamespace is where Envoy stores the dynamic metadata of an
// allowed request; the rate limiter reads the identity from it.
const MetadataNamespace = "envoy.filters.http.ext_authz"

// Server is the gRPC adapter for envoy.service.auth.v3.Authorization: it
// converts a CheckRequest into a Request, asks the engine, and converts
// the Decision back. A denial is a CheckResponse with a denied status,
// never a gRPC error: gRPC errors mean "authorization failed to run" and
// Envoy applies failure_mode_allow to them.
type Server struct {
	engine *Engine
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer returns the adapter for an engine.
func NewServer(e *Engine) *Server { return &Server{engine: e} }

// Register adds the Authorization service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Check implements envoy.service.auth.v3.Authorization.
func (s *Server) Check(_ context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	req := requestFrom(in)
	return responseFrom(s.engine.Check(req), req.RequestID), nil
}

// RequestFrom is the request the engine reads from a Check, for a caller
// that decides more in the same call (package admission), with Decide
// and Response: Check is Response(Decide(RequestFrom(in))).
func RequestFrom(in *authv3.CheckRequest) *Request { return requestFrom(in) }

// Decide asks the engine about a request, counting and logging the
// decision as Check does.
func (s *Server) Decide(req *Request) *Decision { return s.engine.Check(req) }

// Response is the CheckResponse for a decision, as Check answers it. An
// allowed decision's response is shared between requests: callers must
// copy it before changing it.
func Response(d *Decision, requestID string) *authv3.CheckResponse {
	return responseFrom(d, requestID)
}

func requestFrom(in *authv3.CheckRequest) *Request {
	attrs := in.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	headers := http.GetHeaders()
	return &Request{
		Route:     attrs.GetContextExtensions()[RouteContextKey],
		Path:      http.GetPath(),
		Headers:   headers,
		Principal: attrs.GetSource().GetPrincipal(),
		ClientIP:  clientIP(attrs.GetSource(), headers),
		RequestID: headers["x-request-id"],
	}
}

// clientIP is the client's address as the gateway resolved it: the
// x-real-ip header Tollgate's listener sets first in the chain (a
// client's own is removed), which follows the listener's client_address;
// Envoy's source address is the connection's peer, the load balancer's
// behind one. Without the header (another Envoy configuration), the peer.
func clientIP(source *authv3.AttributeContext_Peer, headers map[string]string) string {
	if ip := headers["x-real-ip"]; ip != "" {
		return ip
	}
	return source.GetAddress().GetSocketAddress().GetAddress()
}

func responseFrom(d *Decision, requestID string) *authv3.CheckResponse {
	if d.Allowed() {
		return okResponse(d)
	}
	headers := []*corev3.HeaderValueOption{HeaderOption("content-type", "application/json", false)}
	if len(d.Challenges) > 0 {
		headers = append(headers, HeaderOption("www-authenticate", strings.Join(d.Challenges, ", "), false))
	}
	code := codes.PermissionDenied
	if d.Status == 401 {
		code = codes.Unauthenticated
	} else if d.Status >= 500 {
		code = codes.Unavailable
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)}, //nolint:gosec // G115: an HTTP status the engine chose
			Headers: headers,
			Body:    d.Body(requestID),
		}},
	}
}

// okResponse sets the identity headers (overwriting: Envoy already removed
// any the client sent) and the same identity as dynamic metadata.
func okResponse(d *Decision) *authv3.CheckResponse {
	id := d.Identity
	if r := id.response.Load(); r != nil {
		return r // shared and never mutated: gRPC only reads it
	}
	r := buildOK(d)
	id.response.Store(r)
	return r
}

// buildOK encodes an identity's answer. Its removed headers depend only
// on the identity's kind, so the answer can be cached per identity.
func buildOK(d *Decision) *authv3.CheckResponse {
	id := d.Identity
	headers := make([]*corev3.HeaderValueOption, len(id.Headers))
	for i, h := range id.Headers {
		headers[i] = HeaderOption(h[0], h[1], true)
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers:         headers,
			HeadersToRemove: d.RemoveHeaders,
		}},
		DynamicMetadata: metadata(id),
	}
}

// metadata is the identity for the rest of Envoy's filter chain (the rate
// limiter), with the same names as the headers without x-tollgate-.
func metadata(id *Identity) *structpb.Struct {
	fields := map[string]*structpb.Value{"auth": structpb.NewStringValue(id.Auth)}
	set := func(k, v string) {
		if v != "" {
			fields[k] = structpb.NewStringValue(v)
		}
	}
	set("client_id", id.ClientID)
	set("tier", id.Tier)
	set("user", id.User)
	set("scopes", strings.Join(id.Scopes, " "))
	return &structpb.Struct{Fields: fields}
}

// HeaderOption is a header for Envoy to add to a request or an answer:
// replacing any value it has (overwrite), or appended to them.
func HeaderOption(name, value string, overwrite bool) *corev3.HeaderValueOption {
	action := corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	if overwrite {
		action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	}
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: action,
	}
}
