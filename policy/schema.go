package policy

import (
	"fmt"
	"reflect"
	"strings"
)

// SchemaInfo is what the JSON Schema of the policy format takes from the
// Go source rather than from reflection: the doc comments, and the values
// of each named string type (its constants). internal/policyschema reads
// both from this package's files.
type SchemaInfo struct {
	// Describe returns the doc comment of a type (field "") or of one of
	// its fields, or "".
	Describe func(typeName, field string) string
	// Enums lists the values of named string types, by type name.
	Enums map[string][]string
}

// SchemaID is where the schema is published: the file in this repository.
const SchemaID = "https://raw.githubusercontent.com/tollgate/tollgate/main/docs/policy.schema.json"

// durationPattern is what time.ParseDuration reads: signed decimal numbers
// with units, or a bare 0.
const durationPattern = `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// ratePattern is what ParseRate reads: COUNT/UNIT or COUNT/DURATION.
const ratePattern = `^\s*[0-9]+\s*/\s*([smhd]|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`

// JSONSchema returns the JSON Schema (draft 2020-12) of one policy file,
// built by reflection over the same yaml tags the decoder reads, so that
// it accepts what the decoder accepts: an unknown field, a value of the
// wrong kind, a value outside a named type's constants is refused by both.
// Validation's cross-field rules (a route's service exists, names are
// unique) are not in it: `tollgate validate` has them.
func JSONSchema(info SchemaInfo) map[string]any {
	b := &schemaBuilder{info: info, defs: map[string]any{}}
	root := b.structSchema(reflect.TypeFor[document](), "")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Tollgate policy file"
	root["description"] = "One file of a Tollgate policy directory; every file is merged into one policy. See docs/policy.md."
	root["$defs"] = b.defs
	return root
}

type schemaBuilder struct {
	info SchemaInfo
	defs map[string]any
}

var (
	endpointType     = reflect.TypeFor[Endpoint]()
	destinationsType = reflect.TypeFor[Destinations]()
	rateType         = reflect.TypeFor[Rate]()
	headersFmtType   = reflect.TypeFor[RateLimitHeaders]()
	refusedType      = reflect.TypeFor[refusedSecret]()
)

// typeSchema is the schema of a value of type t, as the decoder reads it.
func (b *schemaBuilder) typeSchema(t reflect.Type) any {
	if s, ok := b.customSchema(t); ok {
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := b.typeSchema(t.Elem())
		if t.Elem().Kind() != reflect.Struct { // a null scalar leaves it nil
			return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
		return s
	case reflect.Struct:
		return b.ref(t)
	case reflect.Slice:
		return map[string]any{"type": []any{"array", "null"}, "items": b.typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": b.typeSchema(t.Elem())}
	default:
		return b.scalarSchema(t)
	}
}

// customSchema covers the types with their own decodeNode (decode.go).
func (b *schemaBuilder) customSchema(t reflect.Type) (any, bool) {
	switch t {
	case durationType:
		// An unquoted 0 is an integer to YAML and a duration to the decoder.
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "pattern": durationPattern},
			map[string]any{"const": 0},
		}, "description": "A duration: a number with a unit, such as 250ms, 3s, 1m or 1h30m."}, true
	case rateType:
		return map[string]any{"type": "string", "pattern": ratePattern, "description": "A rate: COUNT/UNIT such as 10/s, 600/m, 5000/h or 100/10s."}, true
	case headersFmtType:
		return b.enumSchema("RateLimitHeaderFormat"), true
	case refusedType:
		return false, true // any value is refused, with a message saying why
	case endpointType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "description": "host:port"}, b.ref(t),
		}}, true
	case destinationsType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "description": "one service, all traffic"},
			map[string]any{"type": []any{"array", "null"}, "items": b.typeSchema(t.Elem())},
		}}, true
	}
	if reflect.PointerTo(t).Implements(nodeDecoderType) {
		panic(fmt.Sprintf("policy schema: %s decodes itself; say how in customSchema", t))
	}
	return nil, false
}

// scalarSchema is a string, boolean or number as decodeScalar reads it: a
// string field takes any scalar (port: 8080 read as a string is "8080").
func (b *schemaBuilder) scalarSchema(t reflect.Type) any {
	switch t.Kind() {
	case reflect.String:
		if t.Name() != "string" && t.PkgPath() != "" {
			return b.enumSchema(t.Name())
		}
		return map[string]any{"type": []any{"string", "number", "boolean"}}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	panic(fmt.Sprintf("policy schema: no schema for %s", t))
}

func (b *schemaBuilder) enumSchema(name string) map[string]any {
	values := b.info.Enums[name]
	if len(values) == 0 {
		panic(fmt.Sprintf("policy schema: no constants for %s", name))
	}
	enum := make([]any, len(values))
	for i, v := range values {
		enum[i] = v
	}
	return map[string]any{"type": "string", "enum": enum}
}

// ref defines a struct type once under $defs and refers to it.
func (b *schemaBuilder) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, ok := b.defs[name]; !ok {
		b.defs[name] = true // placeholder: recursive types stop here
		b.defs[name] = b.structSchema(t, name)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

// structSchema is a mapping with exactly the struct's yaml fields; null
// reads as an empty mapping (decodeStruct).
func (b *schemaBuilder) structSchema(t reflect.Type, name string) map[string]any {
	props := map[string]any{}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		s := b.typeSchema(f.Type)
		if d := b.describe(name, f.Name); d != "" {
			if m, ok := s.(map[string]any); ok {
				m = copyMap(m)
				m["description"] = d
				s = m
			}
		}
		props[key] = s
	}
	s := map[string]any{"type": []any{"object", "null"}, "properties": props, "additionalProperties": false}
	if d := b.describe(name, ""); d != "" {
		s["description"] = d
	}
	return s
}

func (b *schemaBuilder) describe(typeName, field string) string {
	if b.info.Describe == nil || typeName == "" {
		return ""
	}
	return b.info.Describe(typeName, field)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
