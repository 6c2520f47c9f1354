package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered object, decoded into its type: *appsv1.Deployment,
// *corev1.Service, *Certificate and so on.
type Object struct {
	Kind, Name string
	Value      any
}

// kinds maps apiVersion and kind to a new value of the type the object is
// decoded into. A kind not listed is an error, so that a manifest cannot
// slip past the strict decoding.
var kinds = map[string]func() any{
	"apps/v1/Deployment":             func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":  func() any { return new(policyv1.PodDisruptionBudget) },
	"v1/Service":                     func() any { return new(corev1.Service) },
	"v1/ConfigMap":                   func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                      func() any { return new(corev1.Secret) },
	"cert-manager.io/v1/Issuer":      func() any { return new(Issuer) },
	"cert-manager.io/v1/Certificate": func() any { return new(Certificate) },
}

// Dir is the directory of this package's manifests, found from this
// source file so that tests in other packages can render them.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Build runs kustomize on the kustomization in dir, in process, and
// returns the rendered YAML stream.
func Build(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// Render builds the kustomization in dir and decodes every object.
func Render(dir string) ([]Object, error) {
	out, err := Build(dir)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// Decode decodes a YAML stream of objects, each strictly (see
// unmarshalStrict).
func Decode(stream []byte) ([]Object, error) {
	var out []Object
	for i, doc := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("object %d: %w", i+1, err)
		}
		newValue, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			return nil, fmt.Errorf("object %d (%s): no type known for %s %s", i+1, head.Metadata.Name, head.APIVersion, head.Kind)
		}
		v := newValue()
		if err := unmarshalStrict(doc, v); err != nil {
			return nil, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
		}
		out = append(out, Object{Kind: head.Kind, Name: head.Metadata.Name, Value: v})
	}
	return out, nil
}

// Kustomizations are the kustomization directories under Dir, each
// rendered and checked by the tests (a test fails on one not listed).
var Kustomizations = []string{"base", "overlays/cert-manager"}

// unmarshalStrict decodes one YAML object as the API server's strict field
// validation does: a duplicate key, a field the type does not have, or a
// field spelt in another case (clusterIp for clusterIP, which
// encoding/json would accept) is an error. sigs.k8s.io/json is
// apimachinery's case-sensitive decoder.
func unmarshalStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
