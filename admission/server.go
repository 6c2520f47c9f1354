package admission

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/ratelimiter"
)

// Server is Tollgate's ext_authz service: authz's Check, which for a route
// asking for it (authz.LimitsContextKey) also decides the route's limits.
type Server struct {
	authz  *authz.Server
	limits *ratelimiter.Service
	// plans are the current generation's, swapped whole (atomic pointer).
	plans atomic.Pointer[Plans]
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer returns the service over an authz adapter and the rate-limit
// service that decides limits.
func NewServer(a *authz.Server, limits *ratelimiter.Service) *Server {
	s := &Server{authz: a, limits: limits}
	s.plans.Store(&Plans{})
	return s
}

// Swap makes p the plans deciding from now on.
func (s *Server) Swap(p *Plans) { s.plans.Store(p) }

// Register adds the Authorization service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Check implements envoy.service.auth.v3.Authorization.
func (s *Server) Check(ctx context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	ext := in.GetAttributes().GetContextExtensions()
	if ext[authz.LimitsContextKey] != authz.LimitsWithAuth {
		return s.authz.Check(ctx, in)
	}
	// A route Tollgate's generation does not limit (Envoy's configuration
	// and Tollgate's reload briefly disagree) is authz's alone, as it is
	// with the rate-limit filters when Envoy sends no descriptor.
	plan := s.plans.Load().routes[ext[authz.RouteContextKey]]
	if plan == nil {
		return s.authz.Check(ctx, in)
	}
	return s.decide(ctx, in, plan)
}

// decide runs the three stages in the order of Envoy's filter chain. The
// response headers of admitting limits are kept for the final answer,
// later stages' first, as Envoy's encoders (which run in reverse) add
// them.
func (s *Server) decide(ctx context.Context, in *authv3.CheckRequest, plan *routePlan) (*authv3.CheckResponse, error) {
	req := authz.RequestFrom(in)
	look := &lookup{clientIP: req.ClientIP, headers: req.Headers}
	before, err := s.limit(ctx, plan.before, look)
	if err != nil {
		return nil, err
	}
	if before != nil && !before.Allowed {
		return refusal(before, nil, "", req.RequestID, isGRPC(req.Headers)), nil
	}
	admitted := admittedHeaders(before)
	d := s.authz.Decide(req)
	if !d.Allowed() {
		return withHeaders(authz.Response(d, req.RequestID), admitted, false), nil
	}
	look.identity = d.Identity.Headers
	after, err := s.limit(ctx, plan.after, look)
	if err != nil {
		return nil, err
	}
	if after != nil && !after.Allowed {
		return refusal(after, admitted, d.Identity.ClientID, req.RequestID, isGRPC(req.Headers)), nil
	}
	admitted = append(admittedHeaders(after), admitted...)
	return withHeaders(authz.Response(d, req.RequestID), admitted, true), nil
}

// limit decides one stage's limits, or returns nil when it has none. The
// errors are those the rate-limit service answers Envoy with.
func (s *Server) limit(ctx context.Context, descs [][]policy.DescriptorSource, look *lookup) (*ratelimiter.Decision, error) {
	if len(descs) == 0 {
		return nil, nil
	}
	req := ratelimiter.Request{Descriptors: make([]ratelimiter.Descriptor, len(descs))}
	for i, d := range descs {
		req.Descriptors[i] = descriptor(d, look)
	}
	d, err := s.limits.Decide(ctx, req)
	if errors.Is(err, ratelimiter.ErrNoPolicy) {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "rate-limit decision failed")
	}
	return d, nil
}

// descriptor fills a limit's descriptor as Envoy's actions would: an
// entry whose header is absent is left out (skip_if_absent).
func descriptor(srcs []policy.DescriptorSource, look *lookup) ratelimiter.Descriptor {
	out := make(ratelimiter.Descriptor, 0, len(srcs))
	for _, src := range srcs {
		switch {
		case src.ClientAddress:
			out = append(out, ratelimiter.Entry{Key: src.Key, Value: look.clientIP})
		case src.Header != "":
			if v, ok := look.header(src.Header); ok {
				out = append(out, ratelimiter.Entry{Key: src.Key, Value: v})
			}
		default:
			out = append(out, ratelimiter.Entry{Key: src.Key, Value: src.Value})
		}
	}
	return out
}

// isGRPC reports whether the request is a gRPC call.
func isGRPC(headers map[string]string) bool {
	return strings.HasPrefix(headers["content-type"], "application/grpc")
}

func admittedHeaders(d *ratelimiter.Decision) []ratelimiter.Header {
	if d == nil {
		return nil
	}
	return d.Headers()
}

// refusal is a limit's 429 as Envoy's rate-limit filter sends it: the
// decision's headers and JSON body, x-envoy-ratelimited, RESOURCE_EXHAUSTED
// to a gRPC call, and the refusing limit in the dynamic metadata the
// access log reads. clientID is the authenticated client, "" before
// authentication; requestID goes into the body, as in authz's refusals.
func refusal(d *ratelimiter.Decision, admitted []ratelimiter.Header, clientID, requestID string, grpc bool) *authv3.CheckResponse {
	headers := make([]*corev3.HeaderValueOption, 0, len(admitted)+8)
	for _, h := range d.Headers() {
		headers = append(headers, authz.HeaderOption(h.Name, h.Value, true))
	}
	headers = append(headers, authz.HeaderOption("x-envoy-ratelimited", "true", true))
	if grpc {
		// As the filter's rate_limited_as_resource_exhausted: Envoy would
		// map a 429 to UNAVAILABLE, which gRPC clients retry at once.
		headers = append(headers, authz.HeaderOption("grpc-status", strconv.Itoa(int(codes.ResourceExhausted)), true))
	}
	for _, h := range admitted {
		headers = append(headers, authz.HeaderOption(h.Name, h.Value, false))
	}
	// The client id too: ext_authz sets no identity header on a refusal,
	// and the access log reads it here instead (xds/accesslog.go).
	fields := map[string]*structpb.Value{"limit": structpb.NewStringValue(d.RefusingLimit())}
	if clientID != "" {
		fields["client_id"] = structpb.NewStringValue(clientID)
	}
	md := &structpb.Struct{Fields: fields}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.ResourceExhausted)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
			Headers: headers,
			Body:    string(d.Body(requestID)),
		}},
		DynamicMetadata: md,
	}
}

// withHeaders adds the admitting limits' headers to authz's answer: to the
// client's response when the request goes on (ok), to the denial
// otherwise. authz's allowed answers are shared, so it is copied first.
func withHeaders(resp *authv3.CheckResponse, admitted []ratelimiter.Header, ok bool) *authv3.CheckResponse {
	if len(admitted) == 0 {
		return resp
	}
	resp = proto.Clone(resp).(*authv3.CheckResponse)
	for _, h := range admitted {
		hv := authz.HeaderOption(h.Name, h.Value, false)
		if ok {
			r := resp.GetOkResponse()
			r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, hv)
		} else {
			r := resp.GetDeniedResponse()
			r.Headers = append(r.Headers, hv)
		}
	}
	return resp
}
