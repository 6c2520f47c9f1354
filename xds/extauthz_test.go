package xds

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/policy"
)

// authPolicy is twoGroupPolicy with an auth rule on the orders route.
func authPolicy() *policy.Policy {
	p := twoGroupPolicy()
	p.Routes[0].Auth = &policy.RouteAuth{Accept: []string{policy.CredAnonymous}}
	return p
}

func TestAuthzClusterAddress(t *testing.T) {
	cases := []struct {
		addr, want string
	}{
		{"", "127.0.0.1:18000"},
		{"0.0.0.0:19000", "127.0.0.1:19000"},
		{":19001", "127.0.0.1:19001"},
		{"10.1.2.3:9000", "10.1.2.3:9000"},
	}
	for _, tc := range cases {
		res, err := Translate(authPolicy(), "edge", Options{AuthzAddress: tc.addr})
		if err != nil {
			t.Fatalf("%q: %v", tc.addr, err)
		}
		var got string
		for _, e := range res.Endpoints {
			if e.GetClusterName() == AuthzCluster {
				sa := e.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
				got = sa.GetAddress() + ":" + strconv.FormatUint(uint64(sa.GetPortValue()), 10)
			}
		}
		if got != tc.want {
			t.Errorf("AuthzAddress %q: Envoy dials %q, want %q", tc.addr, got, tc.want)
		}
	}
	if _, err := Translate(authPolicy(), "edge", Options{AuthzAddress: "nowhere"}); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("a bad address was accepted: %v", err)
	}
}

func TestNoAuthzWithoutRules(t *testing.T) {
	res, err := Translate(twoGroupPolicy(), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Clusters {
		if c.GetName() == AuthzCluster {
			t.Error("a policy without auth rules got the authz cluster")
		}
	}
	for _, l := range res.Listeners {
		if strings.Contains(l.String(), "ext_authz") {
			t.Error("a policy without auth rules got the ext_authz filter")
		}
	}
}
