package xds

import (
	"fmt"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// accessLogFields are the fields of Envoy's structured access log, one
// JSON line per request on Envoy's stdout. rate_limit names the limit that
// refused a request (Tollgate's rate-limit service puts it in the filter's
// dynamic metadata), so a 429 in the log says why.
var accessLogFields = map[string]any{
	"time":           "%START_TIME%",
	"method":         "%REQ(:METHOD)%",
	"path":           "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"status":         "%RESPONSE_CODE%",
	"flags":          "%RESPONSE_FLAGS%",
	"route":          "%ROUTE_NAME%",
	"upstream":       "%UPSTREAM_CLUSTER%",
	"duration_ms":    "%DURATION%",
	"client_ip":      "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
	"request_id":     "%REQ(X-REQUEST-ID)%",
	"rate_limit":     "%DYNAMIC_METADATA(envoy.filters.http.ratelimit:limit)%",
	"bytes_sent":     "%BYTES_SENT%",
	"bytes_received": "%BYTES_RECEIVED%",
}

// accessLogs is every listener's access log: JSON lines on stdout.
func accessLogs() ([]*accesslogv3.AccessLog, error) {
	format, err := structpb.NewStruct(accessLogFields)
	if err != nil {
		return nil, fmt.Errorf("access log format: %w", err)
	}
	// The format is a map: marshal it deterministically, or every
	// translation would change the listener's bytes and version.
	config := &anypb.Any{}
	err = anypb.MarshalFrom(config, &streamv3.StdoutAccessLog{AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{
		LogFormat: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: format}},
	}}, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		return nil, fmt.Errorf("encoding the access log: %w", err)
	}
	return []*accesslogv3.AccessLog{{
		Name:       "envoy.access_loggers.stdout",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: config},
	}}, nil
}
