package xds

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// jsonErrorBody is the body of a refusal Envoy sends itself, in the shape
// of Tollgate's authorization refusals (authz.Decision.Body): an error
// code, a message and the request's id, as application/json.
func jsonErrorBody(code, message string) *corev3.SubstitutionFormatString {
	return &corev3.SubstitutionFormatString{
		Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: map[string]*structpb.Value{
			"error":      structpb.NewStringValue(code),
			"message":    structpb.NewStringValue(message),
			"request_id": structpb.NewStringValue("%REQ(X-REQUEST-ID)%"),
		}}},
		OmitEmptyValues: true,
	}
}

// localReplies rewrites the bodies of refusals Envoy's own filters send
// in plain text (RBAC's "RBAC: access denied", the buffer filter's
// "Payload Too Large", the HTTP/1 codec's 431) into jsonErrorBody, so that a client reads every
// refusal the same way, and writes the rate-limit filter's 429 again with
// the request's id (rateLimitedBody). Each mapper keys on the response code details
// Envoy sets for that refusal alone, through the CEL access-log filter:
// a 403 or 413 a service sends is no local reply, and a direct response
// of another route has other details, so neither is touched. The
// configuration is the same for every listener and never changes with
// the policy.
func localReplies() (*hcmv3.LocalReplyConfig, error) {
	var mappers []*hcmv3.ResponseMapper
	for _, m := range []struct{ details, code, message string }{
		// RBAC's details are rbac_access_denied_matched_policy[...].
		{"response.code_details.startsWith('rbac_access_denied')", "forbidden_address", "the client's address may not call this route"},
		{"response.code_details == 'request_payload_too_large'", "payload_too_large", "the request body is larger than the route accepts"},
		{"response.code_details == 'http1.headers_too_large'", "headers_too_large", "the request's headers are larger than the listener accepts"},
	} {
		filter, err := anypb.New(&celv3.ExpressionFilter{Expression: m.details})
		if err != nil {
			return nil, err
		}
		mappers = append(mappers, celMapper(filter, jsonErrorBody(m.code, m.message)))
	}
	filter, err := anypb.New(&celv3.ExpressionFilter{Expression: "response.code_details == 'request_rate_limited'"})
	if err != nil {
		return nil, err
	}
	mappers = append(mappers, celMapper(filter, rateLimitedBody()))
	return &hcmv3.LocalReplyConfig{Mappers: mappers}, nil
}

// celMapper rewrites the body of the local replies a CEL filter selects.
func celMapper(filter *anypb.Any, body *corev3.SubstitutionFormatString) *hcmv3.ResponseMapper {
	return &hcmv3.ResponseMapper{
		Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{
			ExtensionFilter: &accesslogv3.ExtensionFilter{Name: "envoy.access_loggers.extension_filters.cel", ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: filter}},
		}},
		BodyFormatOverride: body,
	}
}

// rateLimitedBody is the rate-limit filter's 429 body with the request's
// id. The rate-limit service writes the body (ratelimiter.Decision.Body)
// but is never told the id: Envoy's rate-limit request carries
// descriptors only, and a descriptor of x-request-id would make every
// request a counter of its own. The service sends the body's fields as
// dynamic metadata too (Decision.BodyFields), and Envoy writes them
// again here with its x-request-id, so that the 429 reads like every
// other refusal and like the one-call path's.
func rateLimitedBody() *corev3.SubstitutionFormatString {
	fields := map[string]*structpb.Value{"request_id": structpb.NewStringValue("%REQ(X-REQUEST-ID)%")}
	for _, k := range []string{"error", "message", "limit", "limit_type", "retry_after_seconds"} {
		fields[k] = structpb.NewStringValue("%DYNAMIC_METADATA(" + rateLimitMetadataNamespace + ":" + k + ")%")
	}
	return &corev3.SubstitutionFormatString{
		Format:          &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: fields}},
		OmitEmptyValues: true,
	}
}

// deterministicAny encodes a message holding maps, such as a connection
// manager with jsonErrorBody's Struct, with map entries in a fixed order:
// anypb.New's order varies between runs, which would change a listener's
// version, and make Envoy drain it, for nothing.
func deterministicAny(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, err
	}
	return a, nil
}
