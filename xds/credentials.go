package xds

import (
	"fmt"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	matchingv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/matching/v3"
	skipv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/matcher/action/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

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

// credentialFilter runs just before the router (only fault injection,
// which adds nothing to the request, comes between), on every route. Its
// configuration is the same for every policy, so it never changes a
// listener. The Lua script runs only for requests that may carry what it
// removes (credentialMatcher); Envoy skips it for the others, which cost
// two regular expression matches.
type credentialFilter struct{}

func (credentialFilter) name() string { return "tollgate.credentials" }

func (credentialFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	lua, err := anypb.New(&luav3.Lua{DefaultSourceCode: &corev3.DataSource{
		Specifier: &corev3.DataSource_InlineString{InlineString: stripCredentialsLua},
	}})
	if err != nil {
		return nil, fmt.Errorf("encoding the credential script: %w", err)
	}
	matcher, err := credentialMatcher()
	if err != nil {
		return nil, err
	}
	return &matchingv3.ExtensionWithMatcher{
		XdsMatcher:      matcher,
		ExtensionConfig: &corev3.TypedExtensionConfig{Name: "strip_credentials", TypedConfig: lua},
	}, nil
}

// optIn is false: credentials are removed on every route.
func (credentialFilter) optIn() bool { return false }

func (credentialFilter) routeConfig(*policy.Policy, *policy.Route) (proto.Message, error) {
	return nil, nil
}

// credentialMatcher skips the script unless the path has a query string
// naming "api" or holding a percent-escape (the only ways a parameter
// name can decode to api_key), or an Authorization value is of the ApiKey
// scheme (Envoy joins repeated Authorization headers with commas).
// Envoy's matchers compare whole values.
func credentialMatcher() (*xdsmatcherv3.Matcher, error) {
	path, err := headerRegex(":path", `.*\?.*(api|%).*`)
	if err != nil {
		return nil, err
	}
	auth, err := headerRegex("authorization", `(?i)(.*,)?\s*apikey\s.*`)
	if err != nil {
		return nil, err
	}
	skip, err := anypb.New(&skipv3.SkipFilter{})
	if err != nil {
		return nil, err
	}
	mayCarry := &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_OrMatcher{
		OrMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: []*xdsmatcherv3.Matcher_MatcherList_Predicate{path, auth}},
	}}
	return &xdsmatcherv3.Matcher{MatcherType: &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{
		Matchers: []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher{{
			Predicate: &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_NotMatcher{NotMatcher: mayCarry}},
			OnMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "skip", TypedConfig: skip},
			}},
		}},
	}}}, nil
}

// headerRegex is a matcher predicate: a request header's value matches
// an RE2 expression as a whole.
func headerRegex(header, regex string) (*xdsmatcherv3.Matcher_MatcherList_Predicate, error) {
	input, err := anypb.New(&matcherv3.HttpRequestHeaderMatchInput{HeaderName: header})
	if err != nil {
		return nil, err
	}
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
		SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
			Input: &xdscorev3.TypedExtensionConfig{Name: header, TypedConfig: input},
			Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &xdsmatcherv3.StringMatcher{
				MatchPattern: &xdsmatcherv3.StringMatcher_SafeRegex{SafeRegex: &xdsmatcherv3.RegexMatcher{
					EngineType: &xdsmatcherv3.RegexMatcher_GoogleRe2{GoogleRe2: &xdsmatcherv3.RegexMatcher_GoogleRE2{}},
					Regex:      regex,
				}},
			}},
		},
	}}, nil
}

// stripCredentialsLua removes the Authorization header whole when one of
// its values is of the ApiKey scheme (which Tollgate reads as a key:
// authz cutScheme), also beside a bearer token on a forward_token route,
// and every query parameter whose name, percent-decoded, is api_key,
// keeping the rest of the path byte for byte.
const stripCredentialsLua = `function envoy_on_request(handle)
  local headers = handle:headers()
  for i = 0, headers:getNumValues("authorization") - 1 do
    local auth = "," .. string.lower(headers:getAtIndex("authorization", i))
    if string.find(auth, ",%s*apikey%s") then
      headers:remove("authorization")
      break
    end
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
    if name == "` + policy.APIKeyQueryParam + `" then
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
