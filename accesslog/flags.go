package accesslog

import (
	"strings"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// flagCodes maps the fields of Envoy's ResponseFlags to the short codes
// %RESPONSE_FLAGS% prints, so that both sinks log the same value.
var flagCodes = map[protoreflect.Name]string{
	"failed_local_healthcheck":             "LH",
	"no_healthy_upstream":                  "UH",
	"upstream_request_timeout":             "UT",
	"local_reset":                          "LR",
	"upstream_remote_reset":                "UR",
	"upstream_connection_failure":          "UF",
	"upstream_connection_termination":      "UC",
	"upstream_overflow":                    "UO",
	"no_route_found":                       "NR",
	"delay_injected":                       "DI",
	"fault_injected":                       "FI",
	"rate_limited":                         "RL",
	"unauthorized_details":                 "UAEX",
	"rate_limit_service_error":             "RLSE",
	"downstream_connection_termination":    "DC",
	"upstream_retry_limit_exceeded":        "URX",
	"stream_idle_timeout":                  "SI",
	"invalid_envoy_request_headers":        "IH",
	"downstream_protocol_error":            "DPE",
	"upstream_max_stream_duration_reached": "UMSDR",
	"response_from_cache_filter":           "RFCF",
	"no_filter_config_found":               "NFCF",
	"duration_timeout":                     "DT",
	"upstream_protocol_error":              "UPE",
	"no_cluster_found":                     "NC",
	"overload_manager":                     "OM",
	"dns_resolution_failure":               "DF",
	"downstream_remote_reset":              "DR",
}

// responseFlags prints the set flags as Envoy does: short codes joined by
// commas, or "-" for none.
func responseFlags(f *accesslogdatav3.ResponseFlags) string {
	if f == nil {
		return "-"
	}
	var codes []string
	m := f.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if code, ok := flagCodes[fd.Name()]; ok {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return "-"
	}
	return strings.Join(codes, ",")
}
