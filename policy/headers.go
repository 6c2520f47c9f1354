package policy

import (
	"fmt"
	"slices"
	"strings"
)

// HeaderChanges are the header changes of a listener or a route
// (`headers:`): to the request the service receives and to the response
// the client receives. A listener's apply to every request it takes; a
// route's apply after the listener's, so a route's set wins over the
// listener's set of the same header (docs/policy.md, "Header changes").
type HeaderChanges struct {
	Source `yaml:"-"`

	Request  *HeaderChangeSet `yaml:"request"`
	Response *HeaderChangeSet `yaml:"response"`
}

// HeaderChangeSet is one direction's changes, applied in this order:
// Remove, then Set (replacing every value of the header), then Add
// (appending a value to those already there).
type HeaderChangeSet struct {
	Source `yaml:"-"`

	Set    []*HeaderValue `yaml:"set"`
	Add    []*HeaderValue `yaml:"add"`
	Remove []string       `yaml:"remove"`
}

// HeaderValue is a header a change writes. Value is literal text with
// placeholders (${client_ip}, ${route}, ${identity.client_id}, …) the
// gateway fills in for each request; see Placeholders.
type HeaderValue struct {
	Source `yaml:"-"`

	Name  string `yaml:"name"`
	Value string `yaml:"value"`

	// Parts is Value split by validation into literal text and
	// placeholders, in order.
	Parts []ValuePart `yaml:"-"`
}

// ValuePart is a piece of a HeaderValue: literal text, or a placeholder
// when Placeholder is set.
type ValuePart struct {
	Literal     string
	Placeholder Placeholder
}

// Placeholder names a per-request value a header change may write.
type Placeholder string

// The placeholders of header values, written ${name}. The identity ones
// are empty when the caller is anonymous or the route makes no
// authorization call; a header whose whole value is empty is not written.
const (
	// PlaceholderClientIP is the client's resolved address
	// (listeners[].client_address), without the port.
	PlaceholderClientIP Placeholder = "client_ip"
	// PlaceholderRoute is the name of the route that took the request.
	PlaceholderRoute Placeholder = "route"
	// The identity the authorization service established, as in the
	// x-tollgate-* headers of the same names.
	PlaceholderClientID Placeholder = "identity.client_id"
	PlaceholderUser     Placeholder = "identity.user"
	PlaceholderTier     Placeholder = "identity.tier"
	PlaceholderScopes   Placeholder = "identity.scopes"
	PlaceholderAuth     Placeholder = "identity.auth"
)

// Placeholders are every placeholder a header value may hold, in the
// order the docs list them.
var Placeholders = []Placeholder{
	PlaceholderClientIP, PlaceholderRoute,
	PlaceholderClientID, PlaceholderUser, PlaceholderTier, PlaceholderScopes, PlaceholderAuth,
}

// IdentityField is the name under which the authorization service
// records an identity placeholder's value ("client_id" for
// identity.client_id), or "" for another placeholder.
func (p Placeholder) IdentityField() string {
	field, ok := strings.CutPrefix(string(p), "identity.")
	if !ok {
		return ""
	}
	return field
}

// parseHeaderValue splits a header value into literal text and
// placeholders.
func parseHeaderValue(s string) ([]ValuePart, error) {
	var parts []ValuePart
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			parts = append(parts, ValuePart{Literal: s})
			break
		}
		if i > 0 {
			parts = append(parts, ValuePart{Literal: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q opens a placeholder with ${ and never closes it with }", s)
		}
		name := Placeholder(s[i+2 : i+end])
		if !slices.Contains(Placeholders, name) {
			return nil, fmt.Errorf("unknown placeholder ${%s}; one of: %s", name, placeholderList())
		}
		parts = append(parts, ValuePart{Placeholder: name})
		s = s[i+end+1:]
	}
	return parts, nil
}

func placeholderList() string {
	out := make([]string, len(Placeholders))
	for i, p := range Placeholders {
		out[i] = "${" + string(p) + "}"
	}
	return strings.Join(out, ", ")
}

// Empty reports whether the set changes nothing.
func (s *HeaderChangeSet) Empty() bool {
	return s == nil || len(s.Set)+len(s.Add)+len(s.Remove) == 0
}
