package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxTrustedHops bounds client_address.trusted_hops: more proxies than
// this in front of a gateway is a mistake, not a topology.
const MaxTrustedHops = 10

// ClientAddress says how a listener finds the client's address when
// proxies stand in front of it. Exactly one field is set. Without it (nil)
// the client is the connection's peer, and no header a client sends
// changes that. The resolved address is what every client_ip limit,
// client_ip hashing, the access log, Tollgate's authorization logs and
// the address headers services receive use.
type ClientAddress struct {
	Source `yaml:"-"`

	// TrustedHops is the number of proxies in front of the listener, each
	// appending its peer to X-Forwarded-For: the client is the
	// TrustedHops-th address from the right. Every peer is trusted, so
	// only those proxies may reach the listener.
	TrustedHops int `yaml:"trusted_hops"`
	// TrustedCIDRs are the addresses of trusted proxies: when the peer is
	// one of them, the client is the right-most X-Forwarded-For address
	// outside them; any other peer is the client itself.
	TrustedCIDRs []string `yaml:"trusted_cidrs"`
	// ProxyProtocol reads the client's address from the PROXY protocol
	// header (v1 or v2) a load balancer sends before the connection's
	// bytes; a connection without one is refused.
	ProxyProtocol bool `yaml:"proxy_protocol"`

	// CIDRs are TrustedCIDRs parsed by validation.
	CIDRs []netip.Prefix `yaml:"-"`
}

const clientAddressModes = "trusted_hops: N (1 to 10), trusted_cidrs: [CIDR, ...] or proxy_protocol: true"

func (v *validator) clientAddress(l *Listener, path string) {
	c := l.ClientAddress
	if c == nil {
		return
	}
	path += ".client_address"
	modes := 0
	for _, set := range []bool{c.Has("trusted_hops"), c.Has("trusted_cidrs"), c.ProxyProtocol} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		v.errorf(c.Pos(), path, "set one of %s", clientAddressModes)
	case modes > 1:
		v.errorf(c.Pos(), path, "set only one of %s", clientAddressModes)
	}
	if c.Has("trusted_hops") && (c.TrustedHops < 1 || c.TrustedHops > MaxTrustedHops) {
		v.errorf(c.At("trusted_hops"), path+".trusted_hops", "trusted_hops must be between 1 and %d, got %d", MaxTrustedHops, c.TrustedHops)
	}
	if c.Has("trusted_cidrs") && len(c.TrustedCIDRs) == 0 {
		v.errorf(c.At("trusted_cidrs"), path+".trusted_cidrs", "list the addresses of the trusted proxies, such as [10.0.0.0/8]")
	}
	for i, s := range c.TrustedCIDRs {
		p, err := parseTrustedCIDR(s)
		if err != nil {
			v.errorf(c.At("trusted_cidrs"), fmt.Sprintf("%s.trusted_cidrs[%d]", path, i), "%v", err)
			continue
		}
		c.CIDRs = append(c.CIDRs, p)
	}
}

// parseTrustedCIDR reads a CIDR, or an address alone as a one-address
// range. Host bits set are refused as a likely typo, and a range covering
// every address would let any client choose its own address.
func parseTrustedCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Errorf("%q has bits set past its /%d prefix; did you mean %s?", s, p.Bits(), p.Masked())
	case p.Bits() == 0:
		return netip.Prefix{}, fmt.Errorf("%q trusts every address, so any client could choose its own; list the proxies' addresses", s)
	}
	return p, nil
}
