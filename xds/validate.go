package xds

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// validator is what protoc-gen-validate generates for every message of
// Envoy's API in go-control-plane: the constraints Envoy itself checks
// when it loads a resource (required fields, ranges, lengths, patterns).
type validator interface{ ValidateAll() error }

// beforeValidate, when set, changes the translated resources just before
// they are validated. Only tests set it: to show that a resource Envoy
// would reject is refused by Tollgate instead.
var beforeValidate func(*Resources)

// validate checks every resource against the constraints of Envoy's API,
// so that a translation bug is a translation error, reported with the
// policy element the resource comes from, never a NACK from every Envoy
// (DESIGN.md: "Envoy never finds our errors"). It reports every invalid
// resource, not just the first.
func (r *Resources) validate(p *policy.Policy) error {
	var errs []error
	check := func(kind, name string, m proto.Message) {
		if err := validateMessage(m); err != nil {
			errs = append(errs, invalidResource(p, kind, name, m, err))
		}
	}
	for _, l := range r.Listeners {
		check("listener", l.GetName(), l)
	}
	for _, rc := range r.Routes {
		check("route configuration", rc.GetName(), rc)
	}
	for _, c := range r.Clusters {
		check("cluster", c.GetName(), c)
	}
	for _, e := range r.Endpoints {
		check("endpoints of cluster", e.GetClusterName(), e)
	}
	for _, s := range r.Secrets {
		// The error names the field, never a value: the constraints on a
		// secret do not quote key material, but say so here too.
		check("secret", s.GetName(), s)
	}
	return errors.Join(errs...)
}

// validateMessage validates m and, since ValidateAll does not open the
// Any fields Envoy packs its extensions in (the connection manager, every
// HTTP filter, per-route filter configuration, protocol options), each
// message packed in one, at any depth.
func validateMessage(m proto.Message) error {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return validatePacked(m.ProtoReflect())
}

// validatePacked validates the messages packed in the Any fields of m.
func validatePacked(m protoreflect.Message) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := 0; i < list.Len() && err == nil; i++ {
				err = validateField(list.Get(i).Message(), fmt.Sprintf("%s[%d]", fd.Name(), i))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateField(mv.Message(), fmt.Sprintf("%s[%q]", fd.Name(), k.String()))
				return err == nil
			})
		case fd.Message() != nil && !fd.IsMap():
			err = validateField(v.Message(), string(fd.Name()))
		}
		return err == nil
	})
	return err
}

// validateField validates an Any's packed message, or looks for Anys
// deeper in any other message. An error names the field path, with the
// type of each packed message, as in
// filter_chains[0].filters[0].typed_config<...HttpConnectionManager>.
func validateField(m protoreflect.Message, field string) error {
	var err error
	if a, ok := m.Interface().(*anypb.Any); ok {
		var inner proto.Message
		if inner, err = a.UnmarshalNew(); err != nil {
			return &fieldError{path: field, err: err}
		}
		field += "<" + string(inner.ProtoReflect().Descriptor().FullName()) + ">"
		err = validateMessage(inner)
	} else {
		err = validatePacked(m)
	}
	if err == nil {
		return nil
	}
	if fe, ok := err.(*fieldError); ok {
		return &fieldError{path: field + "." + fe.path, err: fe.err}
	}
	return &fieldError{path: field, err: err}
}

// fieldError is a constraint broken inside a packed message, at path.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return e.path + ": " + e.err.Error() }

func (e *fieldError) Unwrap() error { return e.err }

// invalidResource is the error for an invalid resource, naming the policy
// element it was translated from and where that was written, when there
// is one: a listener (its redirect listener and route configuration
// too), the route within a route configuration, a service. Tollgate's own
// clusters come from Options, not from the policy.
func invalidResource(p *policy.Policy, kind, name string, m proto.Message, err error) error {
	msg := fmt.Sprintf("%s %q is not valid Envoy configuration: %v", kind, name, err)
	pos, path := policySource(p, kind, name, m)
	if path == "" {
		return fmt.Errorf("xds: %s", msg)
	}
	return &policy.Error{Pos: pos, Path: path, Msg: msg}
}

// policySource is the position and path of the policy element a resource
// was translated from, or an empty path.
func policySource(p *policy.Policy, kind, name string, m proto.Message) (policy.Pos, string) {
	switch kind {
	case "cluster", "endpoints of cluster":
		if s := p.Services[name]; s != nil {
			return s.Pos(), "services." + name
		}
	case "route configuration":
		if pos, path := routeSource(p, m.(*routev3.RouteConfiguration)); path != "" {
			return pos, path
		}
		fallthrough
	case "listener":
		for _, l := range p.Listeners {
			if l.Name == strings.TrimSuffix(name, httpRedirectSuffix) {
				return l.Pos(), "listeners." + l.Name
			}
		}
	}
	return policy.Pos{}, ""
}

// routeSource is the position and path of the policy route behind the
// first invalid route of a listener's route configuration, or an empty
// path if the fault is elsewhere. The configuration holds the listener's
// routes in policy order (routeConfiguration).
func routeSource(p *policy.Policy, rc *routev3.RouteConfiguration) (policy.Pos, string) {
	if strings.HasSuffix(rc.GetName(), httpRedirectSuffix) || len(rc.GetVirtualHosts()) != 1 {
		return policy.Pos{}, ""
	}
	routes := p.RoutesFor(rc.GetName())
	for i, r := range rc.GetVirtualHosts()[0].GetRoutes() {
		if i >= len(routes) || validateMessage(r) == nil {
			continue
		}
		pr := routes[i]
		if pr.Name != "" {
			return pr.Pos(), "routes." + pr.Name
		}
		return pr.Pos(), fmt.Sprintf("routes[%d]", slices.Index(p.Routes, pr))
	}
	return policy.Pos{}, ""
}
