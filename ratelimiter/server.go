package ratelimiter

import (
	"context"
	"errors"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Server is the thin gRPC adapter of Envoy's rate-limit service: proto in,
// Service decision, proto out. A refusal is an OVER_LIMIT response, never
// a gRPC error.
type Server struct {
	rlsv3.UnimplementedRateLimitServiceServer
	svc *Service
}

var _ rlsv3.RateLimitServiceServer = (*Server)(nil)

// NewServer returns the adapter for svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, s) }

// ShouldRateLimit implements the rate-limit service.
func (s *Server) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	d, err := s.svc.Decide(ctx, toRequest(req))
	if errors.Is(err, ErrNoPolicy) {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "rate-limit decision failed")
	}
	return toResponse(d), nil
}

func toRequest(req *rlsv3.RateLimitRequest) Request {
	r := Request{Hits: int64(req.GetHitsAddend()), Descriptors: make([]Descriptor, len(req.GetDescriptors()))}
	for i, d := range req.GetDescriptors() {
		entries := make(Descriptor, len(d.GetEntries()))
		for j, e := range d.GetEntries() {
			entries[j] = Entry{Key: e.GetKey(), Value: e.GetValue()}
		}
		r.Descriptors[i] = entries
	}
	return r
}

func toResponse(d *Decision) *rlsv3.RateLimitResponse {
	resp := &rlsv3.RateLimitResponse{
		OverallCode: rlsv3.RateLimitResponse_OK,
		Statuses:    make([]*rlsv3.RateLimitResponse_DescriptorStatus, len(d.Statuses)),
	}
	for i, st := range d.Statuses {
		resp.Statuses[i] = descriptorStatus(st, i == d.Refused)
	}
	for _, h := range d.Headers() {
		resp.ResponseHeadersToAdd = append(resp.ResponseHeadersToAdd, &corev3.HeaderValue{Key: h.Name, Value: h.Value})
	}
	if !d.Allowed {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		resp.RawBody = d.Body()
		// Envoy keeps this under the filter's namespace, where an access
		// log can read the refusing limit's name.
		resp.DynamicMetadata, _ = structpb.NewStruct(map[string]any{"limit": d.RefusingLimit()})
	}
	return resp
}

func descriptorStatus(st Status, refused bool) *rlsv3.RateLimitResponse_DescriptorStatus {
	out := &rlsv3.RateLimitResponse_DescriptorStatus{Code: rlsv3.RateLimitResponse_OK}
	if !st.Applied {
		return out
	}
	if refused {
		out.Code = rlsv3.RateLimitResponse_OVER_LIMIT
	}
	r := st.Result
	perUnit, secs := st.Limit.Rule.Limit, st.Limit.Rule.Period
	if st.Limit.Rule.Algorithm == TokenBucket {
		perUnit = st.Limit.Rule.Rate
	}
	out.CurrentLimit = &rlsv3.RateLimitResponse_RateLimit{
		Name:            st.Limit.Name,
		RequestsPerUnit: uint32(min(perUnit, 1<<32-1)),
		Unit:            rlsv3.RateLimitResponse_RateLimit_SECOND,
		UnitMultiplier:  wrapperspb.UInt32(uint32(max(1, secs/time.Second))),
	}
	out.LimitRemaining = uint32(min(max(r.Remaining, 0), 1<<32-1))
	out.DurationUntilReset = durationpb.New(r.Reset)
	return out
}
