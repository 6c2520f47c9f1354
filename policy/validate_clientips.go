package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// clientIPs checks a listener's or a route's client_ips (path is the
// owner's) and parses its CIDRs.
func (v *validator) clientIPs(c *ClientIPs, path string) {
	if c == nil {
		return
	}
	path += ".client_ips"
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		v.errorf(c.Pos(), path, "list the addresses to allow, to deny or both, such as allow: [10.0.0.0/8]")
		return
	}
	if c.Has("allow") && len(c.Allow) == 0 {
		v.errorf(c.At("allow"), path+".allow", "an empty allow list would refuse every client; leave allow out to allow every address but those of deny")
	}
	c.AllowCIDRs = v.cidrList(c, "allow", c.Allow, path)
	c.DenyCIDRs = v.cidrList(c, "deny", c.Deny, path)
}

// cidrList parses the CIDRs of one list, reporting each bad one.
func (v *validator) cidrList(c *ClientIPs, field string, list []string, path string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		p, err := parseClientCIDR(s)
		if err != nil {
			v.errorf(c.At(field), fmt.Sprintf("%s.%s[%d]", path, field, i), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseClientCIDR reads a CIDR, or an address alone as a one-address
// range. Host bits set are refused as a likely typo: 10.1.2.3/8 reads as
// one host but means all of 10/8.
func parseClientCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Errorf("%q has bits set past its /%d prefix; did you mean %s?", s, p.Bits(), p.Masked())
	}
	return p, nil
}
