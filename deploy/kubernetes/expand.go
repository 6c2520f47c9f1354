package kubernetes

import (
	"fmt"
	"regexp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// varRef is Kubernetes' $(VAR) reference in a container's command and args.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// Args returns a container's arguments as the kubelet would pass them,
// with every $(VAR) replaced by the container's env value: a literal, a
// key of a ConfigMap among objs, or, for a downward-API field, podName for
// metadata.name. A reference the container cannot resolve is an error
// (the kubelet would pass "$(VAR)" on as it is, which is never meant).
func Args(c corev1.Container, objs []Object, podName string) ([]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		v, err := envValue(e, objs, podName)
		if err != nil {
			return nil, fmt.Errorf("container %s: env %s: %w", c.Name, e.Name, err)
		}
		env[e.Name] = v
	}
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		var missing string
		out[i] = varRef.ReplaceAllStringFunc(a, func(ref string) string {
			name := varRef.FindStringSubmatch(ref)[1]
			v, ok := env[name]
			if !ok {
				missing = name
			}
			return v
		})
		if missing != "" {
			return nil, fmt.Errorf("container %s: argument %q names $(%s), which its env does not set", c.Name, a, missing)
		}
	}
	return out, nil
}

// envValue resolves one env entry the way Args needs it.
func envValue(e corev1.EnvVar, objs []Object, podName string) (string, error) {
	switch src := e.ValueFrom; {
	case src == nil:
		return e.Value, nil
	case src.FieldRef != nil && src.FieldRef.FieldPath == "metadata.name":
		return podName, nil
	case src.ConfigMapKeyRef != nil:
		return configMapValue(objs, src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key)
	case src.ResourceFieldRef != nil:
		return "", nil // a number the kubelet computes; no argument uses one
	}
	return "", fmt.Errorf("unsupported source %+v", e.ValueFrom)
}

// configMapValue is a key of a rendered ConfigMap.
func configMapValue(objs []Object, name, key string) (string, error) {
	for _, o := range objs {
		if cm, ok := o.Value.(*corev1.ConfigMap); ok && cm.Name == name {
			if v, ok := cm.Data[key]; ok {
				return v, nil
			}
			return "", fmt.Errorf("ConfigMap %s has no key %s", name, key)
		}
	}
	return "", fmt.Errorf("no ConfigMap %s", name)
}

// Deployments returns the rendered Deployments by name.
func Deployments(objs []Object) map[string]*appsv1.Deployment {
	out := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		if d, ok := o.Value.(*appsv1.Deployment); ok {
			out[d.Name] = d
		}
	}
	return out
}
