package xds

import (
	"fmt"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"maps"
	"slices"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tollgate/tollgate/policy"
)

// accessLogClusterName is the cluster through which Envoy streams access
// log entries to Tollgate. Policy names cannot start with '_', so no
// service can take it.
const accessLogClusterName = "_tollgate_accesslog"

// AccessLogName is the log_name Envoy sends with every gRPC access-log
// stream, so that Tollgate can tell its own streams from others.
const AccessLogName = "tollgate"

// ClientIDHeader carries the authenticated client (API key id or user)
// that Tollgate's ext_authz sets; it is absent for anonymous requests.
const ClientIDHeader = policy.ClientIDHeader

// accessLogFields is the JSON access-log entry: key → Envoy command
// operator. Tollgate's gRPC access-log service writes the same keys (see
// package accesslog), so both sinks give one schema. The path is logged
// without its query string, which may carry credentials; request headers
// are never logged except the gateway-set client id and the traceparent.
var accessLogFields = map[string]string{
	"timestamp":             "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%",
	"client_id":             clientIDValue,
	"client_ip":             "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
	"service":               "%UPSTREAM_CLUSTER%",
	"route":                 "%ROUTE_NAME%",
	"method":                "%REQ(:METHOD)%",
	"authority":             "%REQ(:AUTHORITY)%",
	"path":                  "%PATH(NQ:ORIG_OR_PATH)%",
	"status":                "%RESPONSE_CODE%",
	"duration_ms":           "%DURATION%",
	"bytes_received":        "%BYTES_RECEIVED%",
	"bytes_sent":            "%BYTES_SENT%",
	"request_id":            "%REQ(X-REQUEST-ID)%",
	"trace_id":              "%TRACE_ID%",
	"upstream_host":         "%UPSTREAM_HOST%",
	"response_flags":        "%RESPONSE_FLAGS%",
	"response_code_details": "%RESPONSE_CODE_DETAILS%",
	// The limit that refused the request: Tollgate's rate-limit service
	// puts its name in the filter's dynamic metadata, so a 429 says why.
	"rate_limit": rateLimitValue,
}

// On a one-call route (policy.LimitsWithAuth) a limit refuses in
// ext_authz's answer, whose dynamic metadata Envoy keeps under ext_authz's
// namespace, and before ext_authz could set the identity headers: the
// refusing limit and the client id are read from there when the
// rate-limit filter's metadata and the header are absent, so a log line
// reads the same whichever path refused. CEL is built into Envoy's
// formatter; a missing key is an error, which logs null as the plain
// operators do.
const (
	authzMetadata  = "metadata.filter_metadata['" + wellknown.HTTPExternalAuthorization + "']"
	rateLimitValue = "%CEL('" + rateLimitMetadataNamespace + "' in metadata.filter_metadata ? " +
		"metadata.filter_metadata['" + rateLimitMetadataNamespace + "']['limit'] : " + authzMetadata + "['limit'])%"
	clientIDValue = "%CEL('" + ClientIDHeader + "' in request.headers ? request.headers['" + ClientIDHeader + "'] : " +
		authzMetadata + "['client_id'])%"
)

// AccessLogFields returns the keys of a JSON access-log entry, for tests
// and documentation that must agree with what Envoy writes.
func AccessLogFields() []string { return slices.Sorted(maps.Keys(accessLogFields)) }

// accessLogs is the access log of every listener's connection manager:
// one JSON entry per request, to a file or to Tollgate over gRPC.
func accessLogs(a *policy.AccessLog) ([]*accesslogv3.AccessLog, error) {
	switch {
	case a.Disabled:
		return nil, nil
	case a.GRPC:
		return accessLog("envoy.access_loggers.http_grpc", grpcAccessLog())
	default:
		return accessLog("envoy.access_loggers.file", fileAccessLog(a.Path))
	}
}

func accessLog(name string, config proto.Message) ([]*accesslogv3.AccessLog, error) {
	// The format is a map: marshal it deterministically, or every
	// translation would change the listener's bytes, its version, and
	// make Envoy drain it for nothing.
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, config, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("encoding the access log: %w", err)
	}
	return []*accesslogv3.AccessLog{{Name: name, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: a}}}, nil
}

// fileAccessLog writes JSON lines to path.
func fileAccessLog(path string) *filev3.FileAccessLog {
	fields := make(map[string]any, len(accessLogFields))
	for k, v := range accessLogFields {
		fields[k] = v
	}
	// Every value is a string, which structpb always accepts.
	s, _ := structpb.NewStruct(fields)
	return &filev3.FileAccessLog{
		Path: path,
		AccessLogFormat: &filev3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: s},
		}},
	}
}

// grpcAccessLog streams entries to Tollgate's access-log service, with
// only the request headers the entry needs.
func grpcAccessLog() *grpcalsv3.HttpGrpcAccessLogConfig {
	return &grpcalsv3.HttpGrpcAccessLogConfig{
		CommonConfig: &grpcalsv3.CommonGrpcAccessLogConfig{
			LogName:             AccessLogName,
			GrpcService:         envoyGRPC(accessLogClusterName),
			TransportApiVersion: corev3.ApiVersion_V3,
		},
		AdditionalRequestHeadersToLog: []string{ClientIDHeader, "traceparent"},
	}
}
