package xds

import (
	"io"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Rendered is the plain-data form of a group's resources, for people and
// tools (`tollgate translate`, `tollgate diff`, the golden files): every
// resource as Envoy's own JSON field names, secrets by name only, since
// their content is key material.
type Rendered struct {
	Group     string   `json:"group" yaml:"group"`
	Listeners []any    `json:"listeners" yaml:"listeners"`
	Routes    []any    `json:"routes" yaml:"routes"`
	Clusters  []any    `json:"clusters" yaml:"clusters"`
	Endpoints []any    `json:"endpoints" yaml:"endpoints"`
	Secrets   []string `json:"secrets" yaml:"secrets"`
}

// Render turns the resources of group into plain data.
func (r *Resources) Render(group string) (*Rendered, error) {
	out := &Rendered{Group: group, Secrets: []string{}}
	var err error
	if out.Listeners, err = RenderAll(r.Listeners); err != nil {
		return nil, err
	}
	if out.Routes, err = RenderAll(r.Routes); err != nil {
		return nil, err
	}
	if out.Clusters, err = RenderAll(r.Clusters); err != nil {
		return nil, err
	}
	if out.Endpoints, err = RenderAll(r.Endpoints); err != nil {
		return nil, err
	}
	for _, s := range r.Secrets {
		out.Secrets = append(out.Secrets, s.GetName())
	}
	return out, nil
}

// RenderAll renders each resource with RenderResource.
func RenderAll[T proto.Message](items []T) ([]any, error) {
	out := make([]any, 0, len(items))
	for _, m := range items {
		v, err := RenderResource(m)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// RenderResource renders one resource as plain data: protojson (Envoy's
// field names, Any types spelled out, what Envoy's config_dump shows),
// re-read as YAML so that map keys sort and numbers stay numbers.
func RenderResource(m proto.Message) (any, error) {
	js, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(js, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// EncodeYAML writes v as YAML with two-space indentation, the layout of
// the golden files.
func EncodeYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}
