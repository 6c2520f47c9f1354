package policy

import "net/netip"

// ClientIPs are the client addresses a listener or a route accepts: an
// admin route only from the office or the VPN, or a listener closed to a
// network that abuses it. They are matched against the client's address
// as the listener resolves it (client_address), never against a header a
// client may write, and a refused request gets 403 before authentication
// and every rate limit.
//
// A client passes when its address is in Allow (or Allow is empty) and in
// none of Deny. A route's lists apply on top of its listener's: a request
// must pass both.
type ClientIPs struct {
	Source `yaml:"-"`

	// Allow lists the CIDRs (or single addresses) that may call; empty
	// means every address but those of Deny.
	Allow []string `yaml:"allow"`
	// Deny lists the CIDRs (or single addresses) that may not, even
	// inside an Allow range.
	Deny []string `yaml:"deny"`

	// AllowCIDRs and DenyCIDRs are Allow and Deny parsed by validation.
	AllowCIDRs []netip.Prefix `yaml:"-"`
	DenyCIDRs  []netip.Prefix `yaml:"-"`
}

// Allows reports whether a client at addr passes the lists, as Envoy's
// RBAC filter decides it from what xds/clientips.go sends it.
func (c *ClientIPs) Allows(addr netip.Addr) bool {
	if c == nil {
		return true
	}
	addr = addr.Unmap()
	in := func(ps []netip.Prefix) bool {
		for _, p := range ps {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	return (len(c.AllowCIDRs) == 0 || in(c.AllowCIDRs)) && !in(c.DenyCIDRs)
}
