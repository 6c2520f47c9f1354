package policy

// DescriptorSource says where one entry of a limit's descriptor comes
// from. It is the one description of a limit's descriptor: the xds
// translator turns it into Envoy rate-limit actions, and a one-call
// ext_authz decision (LimitsWithAuth) fills it in Go from the Check
// request, so both paths count a request under the same keys.
type DescriptorSource struct {
	// Key is the entry's key.
	Key string
	// Value is a fixed value, when Header is empty and ClientAddress false.
	Value string
	// ClientAddress takes the client's resolved address (Envoy's
	// remote_address action).
	ClientAddress bool
	// Header takes a request header's value; an absent header leaves the
	// entry out (never the whole descriptor).
	Header string
}

// LimitDescriptor is the descriptor of one of a route's limits: the
// limit's and the route's names, the client address, the identity entries
// (set by authentication, so absent before it: a before_auth limit gets
// none, and the policy forbids it to use them), and the headers the limit
// counts by. The rate limiter evaluates the limit's condition and key
// from these entries, so one shape serves every limit.
func LimitDescriptor(r *Route, l *RateLimit) []DescriptorSource {
	out := []DescriptorSource{
		{Key: DescriptorLimit, Value: l.Name},
		{Key: DescriptorRoute, Value: r.Name},
		{Key: DescriptorClientIP, ClientAddress: true},
	}
	if !l.BeforeAuth() {
		out = append(out, DescriptorSource{Key: DescriptorAuth, Header: AuthStateHeader})
		for _, d := range []KeyDimension{KeyClientID, KeyUser, KeyTier} {
			out = append(out, DescriptorSource{Key: DescriptorKey(KeyPart{Dimension: d}), Header: IdentityHeader(d)})
		}
	}
	for _, part := range l.Parts {
		if part.Dimension == KeyHeader {
			out = append(out, DescriptorSource{Key: DescriptorKey(part), Header: part.Header})
		}
	}
	return out
}
