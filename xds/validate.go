package xds

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	packed := anyValidator{}
	check := func(kind, name string, m proto.Message) {
		if err := packed.message(m); err != nil {
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

// anyValidator validates messages and the messages packed in their Anys,
// each Any once: the translator shares one Any between places (a route's
// client_ips with its generated refusal routes, requestlimits.go), and
// unpacking it again would find nothing new but cost as much. Any values
// are never changed once translated, so the pointer names the content.
type anyValidator map[*anypb.Any]bool

// message validates m and, since ValidateAll does not open the Any fields
// Envoy packs its extensions in (the connection manager, every HTTP
// filter, per-route filter configuration, protocol options), each
// message packed in one, at any depth.
func (seen anyValidator) message(m proto.Message) error {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return seen.packed(m.ProtoReflect())
}

// packed validates the messages packed in the Any fields of m. It reads
// only the fields whose type can hold an Any (anyFields), which leaves out
// most of a route, and builds a field path only for an error.
func (seen anyValidator) packed(m protoreflect.Message) error {
	for _, fd := range anyFields(m.Descriptor()) {
		if !m.Has(fd) {
			continue
		}
		if err := seen.fieldValue(fd, m.Get(fd)); err != nil {
			return err
		}
	}
	return nil
}

// fieldValue validates the Anys in one field's value.
func (seen anyValidator) fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	var err error
	switch {
	case fd.IsList():
		list := v.List()
		for i := 0; i < list.Len() && err == nil; i++ {
			if err = seen.field(list.Get(i).Message()); err != nil {
				err = inField(fmt.Sprintf("%s[%d]", fd.Name(), i), err)
			}
		}
	case fd.IsMap():
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			if err = seen.field(mv.Message()); err != nil {
				err = inField(fmt.Sprintf("%s[%q]", fd.Name(), k.String()), err)
			}
			return err == nil
		})
	default:
		if err = seen.field(v.Message()); err != nil {
			err = inField(string(fd.Name()), err)
		}
	}
	return err
}

// field validates an Any's packed message, or looks for Anys deeper in
// any other message.
func (seen anyValidator) field(m protoreflect.Message) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return seen.packed(m)
	}
	if seen[a] {
		return nil
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return err
	}
	if err := seen.message(inner); err != nil {
		return inField("<"+string(inner.ProtoReflect().Descriptor().FullName())+">", err)
	}
	seen[a] = true
	return nil
}

// fieldError is a constraint broken inside a packed message, at a field
// path that gives the type of each packed message, as in
// filter_chains[0].filters[0].typed_config<...HttpConnectionManager>.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return e.path + ": " + e.err.Error() }

func (e *fieldError) Unwrap() error { return e.err }

// inField puts err under field in the path.
func inField(field string, err error) error {
	fe, ok := err.(*fieldError)
	switch {
	case !ok:
		return &fieldError{path: field, err: err}
	case strings.HasPrefix(fe.path, "<"):
		return &fieldError{path: field + fe.path, err: fe.err}
	default:
		return &fieldError{path: field + "." + fe.path, err: fe.err}
	}
}

// fieldMessage is the message type of a field, or of a map field's
// values; nil for scalars.
func fieldMessage(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		return fd.MapValue().Message()
	}
	return fd.Message()
}

// anyHolders caches holdsAny by message type.
var anyHolders sync.Map // protoreflect.FullName → bool

// anyFieldsOf caches anyFields by message type.
var anyFieldsOf sync.Map // protoreflect.FullName → []protoreflect.FieldDescriptor

// anyFields are the fields of a message type that can hold an Any: the
// only ones validatePacked reads, which saves reading every field of
// every message by reflection.
func anyFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if v, ok := anyFieldsOf.Load(md.FullName()); ok {
		return v.([]protoreflect.FieldDescriptor)
	}
	var out []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		if child := fieldMessage(fields.Get(i)); child != nil && holdsAny(child) {
			out = append(out, fields.Get(i))
		}
	}
	anyFieldsOf.Store(md.FullName(), out)
	return out
}

// holdsAny reports whether a message of type md can hold an Any, in
// itself or at any depth.
func holdsAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := anyHolders.Load(md.FullName()); ok {
		return v.(bool)
	}
	holds := anyReach(md)
	for name, h := range holds {
		anyHolders.Store(name, h)
	}
	return holds[md.FullName()]
}

// anyReach says, for every message type reachable from root, whether an
// Any is reachable from it: it walks the type graph once from root, then
// marks backwards from Any, so that recursive types (matchers, Struct)
// are handled.
func anyReach(root protoreflect.MessageDescriptor) map[protoreflect.FullName]bool {
	parents := map[protoreflect.FullName][]protoreflect.FullName{}
	holds := map[protoreflect.FullName]bool{}
	stack := []protoreflect.MessageDescriptor{root}
	for len(stack) > 0 {
		md := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, seen := holds[md.FullName()]; seen {
			continue
		}
		holds[md.FullName()] = false
		fields := md.Fields()
		for i := range fields.Len() {
			if child := fieldMessage(fields.Get(i)); child != nil {
				parents[child.FullName()] = append(parents[child.FullName()], md.FullName())
				stack = append(stack, child)
			}
		}
	}
	anyName := (&anypb.Any{}).ProtoReflect().Descriptor().FullName()
	if _, ok := holds[anyName]; !ok {
		return holds
	}
	queue := []protoreflect.FullName{anyName}
	holds[anyName] = true
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range parents[n] {
			if !holds[p] {
				holds[p] = true
				queue = append(queue, p)
			}
		}
	}
	return holds
}

// invalidResource is the error for an invalid resource, naming the policy
// element it was translated from and where that was written, when there
// is one: a listener (its redirect listener and route configuration
// too), the route within a route configuration, a service; or, for
// Tollgate's own clusters, the Options field their address comes from.
func invalidResource(p *policy.Policy, kind, name string, m proto.Message, err error) error {
	msg := fmt.Sprintf("%s %q is not valid Envoy configuration: %v", kind, name, err)
	pos, path := policySource(p, kind, name, m)
	if path == "" {
		for _, s := range tollgateServices {
			if kind == "cluster" && name == s.cluster {
				return fmt.Errorf("xds: Options.%s: %s", s.option, msg)
			}
		}
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
// path if the fault is elsewhere. Each Envoy route carries the name of
// its policy route, the refusal routes generated before it too
// (requestlimits.go), so the name finds it.
func routeSource(p *policy.Policy, rc *routev3.RouteConfiguration) (policy.Pos, string) {
	if strings.HasSuffix(rc.GetName(), httpRedirectSuffix) || len(rc.GetVirtualHosts()) != 1 {
		return policy.Pos{}, ""
	}
	routes := p.RoutesFor(rc.GetName())
	for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
		i := slices.IndexFunc(routes, func(pr *policy.Route) bool { return pr.Name == r.GetName() })
		if i < 0 || (anyValidator{}).message(r) == nil {
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
