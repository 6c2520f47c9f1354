package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder turns a YAML node tree into policy structs strictly: an unknown
// field, a repeated key or a value of the wrong kind is an error at the
// node's line and column. It keeps going after an error so that one run
// reports every mistake in a file. It is a small reflection walker over
// yaml.v3 nodes rather than yaml.Decoder with KnownFields, because that
// stops at the first error and reports lines without columns.
type decoder struct {
	file string
	errs *Errors
}

// nodeDecoder is implemented by types whose YAML form is not a plain
// mapping, such as an endpoint written either as "host:port" or as a map.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

var (
	sourceType      = reflect.TypeFor[Source]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
	durationType    = reflect.TypeFor[Duration]()
)

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.add(d.pos(n), path, fmt.Sprintf(format, args...))
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) && v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		// "orders:" with nothing after it: an empty element, which
		// validation then reports with this position.
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	src := Source{pos: d.pos(n), fields: map[string]Pos{}}
	d.eachKey(n, path, func(key string, k, val *yaml.Node) {
		idx, ok := fields[key]
		if !ok {
			d.errorf(k, joinPath(path, key), "unknown field %q; expected one of: %s", key, strings.Join(names, ", "))
			return
		}
		src.fields[key] = d.pos(resolveAlias(val))
		d.decode(val, v.Field(idx), joinPath(path, key))
	})
	if i := sourceIndex(v.Type()); i >= 0 {
		v.Field(i).Set(reflect.ValueOf(src))
	}
}

// eachKey calls fn for every key of a mapping node, reporting repeated
// keys, non-string keys and merge keys instead of passing them on.
func (d *decoder) eachKey(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "expected a string key, found %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, path, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, joinPath(path, k.Value), "%q is repeated (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		fn(k.Value, k, val)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, found %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.eachKey(n, path, func(key string, _, val *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, joinPath(path, key))
		v.SetMapIndex(reflect.ValueOf(key), elem)
	})
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected %s, found %s", kindName(v.Type()), describe(n))
		return
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "invalid duration %q: write a number with a unit, such as 250ms, 3s or 1m", n.Value)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Bool:
		if n.Tag != "!!bool" {
			d.errorf(n, path, "expected true or false, found %q", n.Value)
			return
		}
		b, _ := strconv.ParseBool(n.Value)
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64 || v.Kind() == reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Tag != "!!int" || err != nil || v.OverflowInt(i) {
			d.errorf(n, path, "expected an integer, found %q", n.Value)
			return
		}
		v.SetInt(i)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (n.Tag != "!!float" && n.Tag != "!!int") || err != nil {
			d.errorf(n, path, "expected a number, found %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// A programming error in the model, not bad input: report it like
		// one rather than crashing the control plane.
		d.errorf(n, path, "internal: no decoder for %s", v.Type())
	}
}

// yamlFields maps YAML keys to struct field indexes for t, and returns the
// keys sorted for error messages.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	return fields, names
}

func sourceIndex(t reflect.Type) int {
	for i := range t.NumField() {
		if t.Field(i).Type == sourceType {
			return i
		}
	}
	return -1
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node is, in the words a policy author would use.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

func kindName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Float64:
		return "a number"
	default:
		return "an integer"
	}
}

// decodeNode lets an endpoint be written as "host:port" or as a mapping.
func (e *Endpoint) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		e.Address = n.Value
		e.Source = Source{pos: d.pos(n), fields: map[string]Pos{"address": d.pos(n)}}
		return
	}
	type plain Endpoint // no decodeNode: decode as a struct
	d.decodeStruct(n, reflect.ValueOf((*plain)(e)).Elem(), path)
}

// decodeNode lets a route's destination be one service name or a list of
// weighted destinations.
func (ds *Destinations) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		*ds = Destinations{{
			Service: n.Value,
			Source:  Source{pos: d.pos(n), fields: map[string]Pos{"service": d.pos(n)}},
		}}
		return
	}
	d.decodeSlice(n, reflect.ValueOf(ds).Elem(), path)
}

func reflectValue(doc *document) reflect.Value { return reflect.ValueOf(doc).Elem() }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
