package policy

import (
	"net/netip"
	"testing"
)

const ipPolicyHead = "services: { a: { endpoints: [127.0.0.1:1] } }\n"

func TestClientIPsErrorsArePositioned(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"bad CIDRs", ipPolicyHead + "listeners:\n  - name: l\n    port: 1\n    client_ips:\n      allow: [10.0.0.0/8, 10.1.2.3/16, office, \"::1/129\", \"fe80::1%eth0\"]\n", []string{
			`6:14: listeners.l.client_ips.allow[1]: "10.1.2.3/16" has bits set past its /16 prefix; did you mean 10.1.0.0/16?`,
			`6:14: listeners.l.client_ips.allow[2]: "office" is not a CIDR (10.0.0.0/8) or an IP address`,
			`6:14: listeners.l.client_ips.allow[3]: "::1/129" is not a CIDR`,
			`6:14: listeners.l.client_ips.allow[4]: "fe80::1%eth0" is not a CIDR`,
		}},
		{"no list", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - { name: r, to: a, client_ips: {} }\n", []string{
			`4:35: routes.r.client_ips: list the addresses to allow, to deny or both`,
		}},
		{"empty allow", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - { name: r, to: a, client_ips: { allow: [], deny: [10.0.0.1] } }\n", []string{
			`4:44: routes.r.client_ips.allow: an empty allow list would refuse every client`,
		}},
		{"bad deny on a route", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - name: r\n    to: a\n    client_ips: { deny: [10.0.0.300] }\n", []string{
			`6:25: routes.r.client_ips.deny[0]: "10.0.0.300" is not a CIDR`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestClientIPsAllows(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": ipPolicyHead + `listeners: [{ name: l, port: 1, client_ips: { deny: [203.0.113.7] } }]
routes:
  - { name: admin, to: a, client_ips: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.9.0.0/16] } }
`}))
	if err != nil {
		t.Fatal(err)
	}
	admin, l := p.Routes[0].ClientIPs, p.Listeners[0].ClientIPs
	for _, tc := range []struct {
		c    *ClientIPs
		addr string
		want bool
	}{
		{admin, "10.1.2.3", true},
		{admin, "::ffff:10.1.2.3", true}, // an IPv4-mapped address, as --client-ip may give it
		{admin, "10.9.1.1", false},       // denied inside the allowed range
		{admin, "192.0.2.1", false},
		{admin, "2001:db8::1", true},
		{l, "203.0.113.7", false},
		{l, "203.0.113.8", true},
		{nil, "203.0.113.7", true},
	} {
		if got := tc.c.Allows(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%v allows %s = %v, want %v", tc.c, tc.addr, got, tc.want)
		}
	}
}
