package ratelimiter

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
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
	// limits holds the current generation's per-limit response protos,
	// swapped whole (atomic pointer) when the Service's limiter changes.
	limits atomic.Pointer[limitProtos]
}

var _ rlsv3.RateLimitServiceServer = (*Server)(nil)

// NewServer returns the adapter for svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(g, s) }

// ShouldRateLimit implements the rate-limit service.
func (s *Server) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	if reason, msg := checkCallSize(req.GetDescriptors()); reason != "" {
		s.svc.metrics.invalidCalls.WithLabelValues(reason).Inc()
		return nil, status.Error(codes.InvalidArgument, msg)
	}
	d, err := s.svc.Decide(ctx, toRequest(req))
	if errors.Is(err, ErrNoPolicy) {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "rate-limit decision failed")
	}
	return toResponse(d, s.protos()), nil
}

func toRequest(req *rlsv3.RateLimitRequest) Request {
	descs := req.GetDescriptors()
	n := 0
	for _, d := range descs {
		n += len(d.GetEntries())
	}
	// One backing array for every descriptor's entries.
	entries := make([]Entry, n)
	r := Request{Hits: int64(req.GetHitsAddend()), Descriptors: make([]Descriptor, len(descs))}
	for i, d := range descs {
		de := entries[:len(d.GetEntries()):len(d.GetEntries())]
		entries = entries[len(de):]
		for j, e := range d.GetEntries() {
			de[j] = Entry{Key: e.GetKey(), Value: e.GetValue()}
		}
		r.Descriptors[i] = de
	}
	return r
}

// limitProtos are the parts of a response that depend only on the limit
// (CurrentLimit), built once per limiter generation. They are shared by
// concurrent responses and never modified once built: gRPC only marshals
// them, which protobuf allows concurrently.
type limitProtos struct {
	limiter *Limiter
	current map[*Limit]*rlsv3.RateLimitResponse_RateLimit
}

// protos returns the current limiter's protos, building them after a swap.
func (s *Server) protos() *limitProtos {
	l := s.svc.Limiter()
	if p := s.limits.Load(); p != nil && p.limiter == l {
		return p
	}
	p := &limitProtos{limiter: l, current: map[*Limit]*rlsv3.RateLimitResponse_RateLimit{}}
	if l != nil {
		for _, lim := range l.limits {
			p.current[lim] = currentLimit(lim)
		}
	}
	s.limits.Store(p)
	return p
}

// currentLimit is a limit as Envoy's CurrentLimit describes it.
func currentLimit(lim *Limit) *rlsv3.RateLimitResponse_RateLimit {
	perUnit, secs := lim.Rule.Limit, lim.Rule.Period
	if lim.Rule.Algorithm == TokenBucket {
		perUnit = lim.Rule.Rate
	}
	return &rlsv3.RateLimitResponse_RateLimit{
		Name:            lim.Name,
		RequestsPerUnit: saturateUint32(perUnit),
		Unit:            rlsv3.RateLimitResponse_RateLimit_SECOND,
		UnitMultiplier:  wrapperspb.UInt32(saturateUint32(max(1, int64(secs/time.Second)))),
	}
}

// saturateUint32 is n within Envoy's uint32 fields: a window longer than
// 136 years would otherwise wrap to a short one.
func saturateUint32(n int64) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32)) //nolint:gosec // G115: clamped just here
}

// statusBlock is one descriptor status and its reset duration.
type statusBlock struct {
	status rlsv3.RateLimitResponse_DescriptorStatus
	reset  durationpb.Duration
}

// responseWithRoom is a response and room for a few statuses, allocated
// together.
type responseWithRoom struct {
	resp     rlsv3.RateLimitResponse
	statuses [smallDecision]*rlsv3.RateLimitResponse_DescriptorStatus
	blocks   [smallDecision]statusBlock
}

// newResponse returns an OK response with n empty statuses.
func newResponse(n int) (*rlsv3.RateLimitResponse, []statusBlock) {
	if n > smallDecision {
		resp := &rlsv3.RateLimitResponse{Statuses: make([]*rlsv3.RateLimitResponse_DescriptorStatus, n)}
		return resp, make([]statusBlock, n)
	}
	r := &responseWithRoom{}
	r.resp.Statuses = r.statuses[:n:n]
	return &r.resp, r.blocks[:n:n]
}

// toResponse converts a decision. protos may lack a limit (the decision
// used a limiter swapped out meanwhile): its CurrentLimit is then built.
func toResponse(d *Decision, protos *limitProtos) *rlsv3.RateLimitResponse {
	resp, blocks := newResponse(len(d.Statuses))
	resp.OverallCode = rlsv3.RateLimitResponse_OK
	for i := range d.Statuses {
		resp.Statuses[i] = descriptorStatus(&blocks[i], &d.Statuses[i], i == d.Refused, protos)
	}
	if h := d.Headers(); len(h) > 0 {
		values := make([]corev3.HeaderValue, len(h))
		resp.ResponseHeadersToAdd = make([]*corev3.HeaderValue, len(h))
		for i := range h {
			values[i].Key, values[i].Value = h[i].Name, h[i].Value
			resp.ResponseHeadersToAdd[i] = &values[i]
		}
	}
	if !d.Allowed {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		resp.RawBody = d.Body("")
		// Envoy keeps this under the filter's namespace, where an access
		// log can read the refusing limit's name ("limit") and Envoy's
		// local reply writes the body again with the request's id, which
		// the rate-limit request does not carry (xds/localreplies.go).
		resp.DynamicMetadata, _ = structpb.NewStruct(d.BodyFields())
	}
	return resp
}

// descriptorStatus fills b with the status of one descriptor.
func descriptorStatus(b *statusBlock, st *Status, refused bool, protos *limitProtos) *rlsv3.RateLimitResponse_DescriptorStatus {
	out := &b.status
	out.Code = rlsv3.RateLimitResponse_OK
	if !st.Applied {
		return out
	}
	if refused {
		out.Code = rlsv3.RateLimitResponse_OVER_LIMIT
	}
	out.CurrentLimit = protos.current[st.Limit]
	if out.CurrentLimit == nil {
		out.CurrentLimit = currentLimit(st.Limit)
	}
	out.LimitRemaining = uint32(min(max(st.Result.Remaining, 0), 1<<32-1))
	// As durationpb.New.
	nanos := st.Result.Reset.Nanoseconds()
	b.reset.Seconds, b.reset.Nanos = nanos/1e9, int32(nanos%1e9)
	out.DurationUntilReset = &b.reset
	return out
}
