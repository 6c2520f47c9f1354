package policy

import (
	"reflect"
	"testing"
)

// headersBase is a policy whose api-key route a case appends to.
const headersBase = "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\n" +
	"auth: { api_keys: { file: keys/keys.yaml, header: X-Key }, jwt: [{ issuer: https://idp, jwks_uri: https://idp/jwks, claims_to_headers: { email: x-email } }] }\n"

// Each header change that would touch what the gateway sets, removes or
// trusts is refused at its file:line:col; so are malformed names and values.
var headerChangeErrors = []struct {
	name   string
	policy string
	want   []string
}{
	{"identity headers", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      request:\n        set: [{ name: X-Tollgate-Client-Id, value: admin }]\n        add: [{ name: x-email, value: a@b }]\n        remove: [x-tollgate-tier]\n", []string{
		`9:23: routes.r.headers.request.set[0].name: "X-Tollgate-Client-Id" is an identity header: only the gateway's authorization sets it`,
		`10:23: routes.r.headers.request.add[0].name: "x-email" is an identity header`,
		`11:17: routes.r.headers.request.remove[0]: "x-tollgate-tier" is an identity header`,
	}},
	{"identity headers on a listener", "listeners:\n  - name: l\n    port: 1\n    headers: { request: { set: [{ name: x-tollgate-user, value: \"${client_ip}\" }] } }\n", []string{
		`4:41: listeners.l.headers.request.set[0].name: "x-tollgate-user" is an identity header`,
	}},
	{"credentials may be removed, never written", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      request:\n        set: [{ name: Authorization, value: Bearer x }]\n        add: [{ name: x-key, value: k }]\n  - { name: r2, to: a, headers: { request: { remove: [authorization, x-key] } } }\n", []string{
		`9:23: routes.r.headers.request.set[0].name: "Authorization" carries credentials, which never reach a service; header changes may remove it but not write it`,
		`10:23: routes.r.headers.request.add[0].name: "x-key" carries credentials`,
	}},
	{"headers the gateway sets", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      request:\n        set: [{ name: x-forwarded-for, value: 1.2.3.4 }, { name: x-real-ip, value: \"${client_ip}\" }, { name: x-envoy-force-trace, value: \"1\" }]\n", []string{
		`9:23: routes.r.headers.request.set[0].name: "x-forwarded-for" is set or removed by the gateway itself`,
		`9:66: routes.r.headers.request.set[1].name: "x-real-ip" is set or removed by the gateway itself`,
		`9:110: routes.r.headers.request.set[2].name: "x-envoy-force-trace" is set or removed by the gateway itself`,
	}},
	{"framing headers, both ways", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      request: { remove: [Host] }\n      response: { set: [{ name: content-length, value: \"1\" }] }\n", []string{
		`8:26: routes.r.headers.request.remove[0]: "Host" is the connection's or the message's framing`,
		`9:33: routes.r.headers.response.set[0].name: "content-length" is the connection's or the message's framing`,
	}},
	{"bad names and values", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      response:\n        set: [{ name: \"x a\", value: v }, { name: x-b, value: \"a\\nb\" }, { name: x-c, value: \"\" }, { name: x-d, value: \"${secret}\" }, { name: x-e, value: \"${route\" }]\n", []string{
		`9:23: routes.r.headers.response.set[0].name: "x a" is not a valid header name`,
		`9:62: routes.r.headers.response.set[1].value: a header value may not hold a line break or a NUL byte`,
		`9:92: routes.r.headers.response.set[2].value: needs a value`,
		`9:118: routes.r.headers.response.set[3].value: unknown placeholder ${secret}; one of: ${client_ip}, ${route}, ${identity.client_id}, ${identity.user}, ${identity.tier}, ${identity.scopes}, ${identity.auth}`,
		`9:153: routes.r.headers.response.set[4].value: "${route" opens a placeholder with ${ and never closes it with }`,
	}},
	{"set twice", headersBase + "routes:\n  - name: r\n    to: a\n    headers:\n      response:\n        set: [{ name: x-a, value: \"1\" }, { name: X-A, value: \"2\" }]\n", []string{
		`9:50: routes.r.headers.response.set[1].name: "X-A" is already set at`,
	}},
}

func TestHeaderChangesRefusedWithPositions(t *testing.T) {
	for _, tc := range headerChangeErrors {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestHeaderValuePlaceholders(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\n" + `routes:
  - name: r
    to: a
    headers:
      request:
        set: [{ name: x-caller, value: "${identity.client_id} via ${route} from ${client_ip}, 100%" }]
`}))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Routes[0].Headers.Request.Set[0].Parts
	want := []ValuePart{
		{Placeholder: PlaceholderClientID}, {Literal: " via "}, {Placeholder: PlaceholderRoute},
		{Literal: " from "}, {Placeholder: PlaceholderClientIP}, {Literal: ", 100%"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts %+v, want %+v", got, want)
	}
}
