// Package accesslog is Tollgate's gRPC access-log service
// (envoy.service.accesslog.v3): Envoys configured with
// `access_log: { grpc: true }` stream their entries here, and Tollgate
// writes them as JSON lines with the same keys Envoy's own file access log
// uses (see xds/accesslog.go), so that both sinks give one schema.
package accesslog

import (
	"cmp"
	"net"
	"strconv"
	"strings"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/tollgate/tollgate/policy"
)

// Entry is one request through the gateway. Optional values are pointers
// so that, as in Envoy's JSON access log, an absent value is null.
type Entry struct {
	Timestamp           string  `json:"timestamp"`
	ClientID            *string `json:"client_id"`
	ClientIP            *string `json:"client_ip"`
	Service             *string `json:"service"`
	Route               *string `json:"route"`
	Method              *string `json:"method"`
	Authority           *string `json:"authority"`
	Path                *string `json:"path"`
	Status              uint32  `json:"status"`
	DurationMS          int64   `json:"duration_ms"`
	BytesReceived       uint64  `json:"bytes_received"`
	BytesSent           uint64  `json:"bytes_sent"`
	RequestID           *string `json:"request_id"`
	TraceID             *string `json:"trace_id"`
	UpstreamHost        *string `json:"upstream_host"`
	ResponseFlags       string  `json:"response_flags"`
	ResponseCodeDetails *string `json:"response_code_details"`
	// RateLimit names the limit that refused the request, from the
	// rate-limit filter's dynamic metadata.
	RateLimit *string `json:"rate_limit"`
}

// The request headers Envoy is asked to send along (xds/accesslog.go):
// the client identity the gateway set, and the trace context.
const (
	clientIDHeader    = policy.ClientIDHeader
	traceparentHeader = "traceparent"
	// rateLimitNamespace is the rate-limit filter's dynamic metadata.
	rateLimitNamespace = "envoy.filters.http.ratelimit"
	// authzNamespace is ext_authz's, where a one-call route's refusal
	// puts the limit and the client id (xds/accesslog.go).
	authzNamespace = "envoy.filters.http.ext_authz"
)

// rateLimit is the refusing limit, from whichever filter refused.
func rateLimit(c *accesslogdatav3.AccessLogCommon) string {
	if v, ok := c.GetMetadata().GetFilterMetadata()[rateLimitNamespace].GetFields()["limit"]; ok {
		return v.GetStringValue()
	}
	return authzMetadata(c, "limit")
}

func authzMetadata(c *accesslogdatav3.AccessLogCommon, key string) string {
	return c.GetMetadata().GetFilterMetadata()[authzNamespace].GetFields()[key].GetStringValue()
}

// FromHTTP converts an Envoy HTTP access-log entry.
func FromHTTP(e *accesslogdatav3.HTTPAccessLogEntry) Entry {
	c, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
	out := Entry{
		Timestamp:           c.GetStartTime().AsTime().UTC().Format("2006-01-02T15:04:05.000Z"),
		ClientID:            opt(cmp.Or(req.GetRequestHeaders()[clientIDHeader], authzMetadata(c, "client_id"))),
		ClientIP:            opt(c.GetDownstreamRemoteAddress().GetSocketAddress().GetAddress()),
		Service:             opt(c.GetUpstreamCluster()),
		Route:               opt(c.GetRouteName()),
		Authority:           opt(req.GetAuthority()),
		Path:                opt(pathWithoutQuery(req.GetOriginalPath(), req.GetPath())),
		Status:              resp.GetResponseCode().GetValue(),
		DurationMS:          durationMS(c),
		BytesReceived:       req.GetRequestBodyBytes(),
		BytesSent:           resp.GetResponseBodyBytes(),
		RequestID:           opt(req.GetRequestId()),
		TraceID:             opt(traceID(req.GetRequestHeaders()[traceparentHeader])),
		UpstreamHost:        opt(hostPort(c.GetUpstreamRemoteAddress().GetSocketAddress().GetAddress(), c.GetUpstreamRemoteAddress().GetSocketAddress().GetPortValue())),
		ResponseFlags:       responseFlags(c.GetResponseFlags()),
		ResponseCodeDetails: opt(resp.GetResponseCodeDetails()),
		RateLimit:           opt(rateLimit(c)),
	}
	if m := req.GetRequestMethod(); m != 0 {
		out.Method = opt(m.String())
	}
	return out
}

// opt is nil for "", like Envoy's null for an absent value.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pathWithoutQuery is the path the client sent, before any rewrite, with
// the query string cut off: queries may carry credentials.
func pathWithoutQuery(original, path string) string {
	if original != "" {
		path = original
	}
	p, _, _ := strings.Cut(path, "?")
	return p
}

// durationMS is the time from the first byte received to the last byte
// sent, as Envoy's %DURATION%.
func durationMS(c *accesslogdatav3.AccessLogCommon) int64 {
	d := c.GetDuration()
	if d == nil {
		d = c.GetTimeToLastDownstreamTxByte()
	}
	return d.AsDuration().Milliseconds()
}

// traceID is the trace id of a W3C traceparent
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "" when
// the header is malformed.
func traceID(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[1]) != 32 || strings.Trim(parts[1], "0123456789abcdef") != "" {
		return ""
	}
	return parts[1]
}

func hostPort(host string, port uint32) string {
	if host == "" {
		return ""
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}
