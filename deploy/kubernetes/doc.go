// Package kubernetes holds Tollgate's Kubernetes manifests (a kustomize
// base and overlays, in base/ and overlays/) and, in Go, what their tests
// need: rendering a kustomization in process and decoding every object
// strictly into the official k8s.io/api types. No binary imports it
// (TestNoBinaryImportsKubernetes); the tests here, cmd/tollgate's (the
// containers' arguments against serve's own flag parsing) and e2e's (real
// Envoys with the bootstrap the init container writes) do.
//
// Kustomize rather than a Helm chart: the manifests stay plain, valid
// Kubernetes objects that a reader (and kubectl apply -k, built into
// kubectl) takes as they are, and a change is an overlay patch rather
// than a template parameter; Tollgate's own knobs live in the policy, not
// in chart values.
package kubernetes
