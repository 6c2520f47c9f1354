package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/policy"
)

// No credential Tollgate reads reaches a service, on any route, whatever
// the route accepts (docs/policy.md, "Credentials never reach services").
// Each placement is removed where Envoy can do it after Tollgate has read
// it:
//   - the API key header, by every route configuration
//     (credentialHeaders);
//   - Authorization, by each route that does not forward tokens
//     (routeCredentialHeaders): the router applies both after ext_authz
//     and the rate limiters have read the request, and on public routes,
//     which make no authorization call;
//   - the api_key query parameter and an Authorization header of the
//     ApiKey scheme, by the credential filter below, last before the
//     router: neither can be removed by route configuration, and Envoy's
//     own query mutation (header_mutation) decodes the query and does not
//     encode it again, turning "q=a%26b" into "q=a&b".

// credentialFilter runs last before the router, on every route. Its
// configuration is the same for every policy, so it never changes a
// listener.
type credentialFilter struct{}

func (credentialFilter) name() string { return "tollgate.credentials" }

func (credentialFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &luav3.Lua{DefaultSourceCode: &corev3.DataSource{
		Specifier: &corev3.DataSource_InlineString{InlineString: stripCredentialsLua},
	}}, nil
}

func (credentialFilter) routeConfig(*policy.Policy, *policy.Route) (proto.Message, error) {
	return nil, nil
}

// stripCredentialsLua removes an Authorization header of the ApiKey
// scheme (whose value Tollgate reads as a key: authz cutScheme), and
// every query parameter whose name, percent-decoded, is api_key, keeping
// the rest of the path byte for byte. It costs a string search on
// requests without a query string.
const stripCredentialsLua = `function envoy_on_request(handle)
  local headers = handle:headers()
  local auth = headers:get("authorization")
  if auth ~= nil and string.find(string.lower(auth), "^%s*apikey%s") then
    headers:remove("authorization")
  end
  local path = headers:get(":path")
  local q = path and string.find(path, "?", 1, true)
  if q == nil then
    return
  end
  local kept, removed = {}, false
  for part in string.gmatch(string.sub(path, q + 1) .. "&", "([^&]*)&") do
    local name = string.gsub(string.match(part, "^[^=]*"), "%%(%x%x)",
      function(h) return string.char(tonumber(h, 16)) end)
    if name == "` + policy.DefaultAPIKeyQueryParam + `" then
      removed = true
    else
      kept[#kept + 1] = part
    end
  end
  if removed then
    local rest = table.concat(kept, "&")
    if rest == "" then
      headers:replace(":path", string.sub(path, 1, q - 1))
    else
      headers:replace(":path", string.sub(path, 1, q) .. rest)
    end
  end
end
`

// credentialHeaders are removed from every request of a route
// configuration: the API key header.
func credentialHeaders(p *policy.Policy) []string {
	return []string{p.APIKeyHeader()}
}

// routeCredentialHeaders are removed from the requests of one route:
// Authorization, unless the route forwards tokens.
func routeCredentialHeaders(p *policy.Policy, r *policy.Route) []string {
	if p.ForwardsToken(r) {
		return nil
	}
	return []string{"authorization"}
}
