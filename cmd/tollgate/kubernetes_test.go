package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/deploy/kubernetes"
)

// Every container running the tollgate image in the Kubernetes manifests
// passes arguments serve's own flag parsing accepts ($(VAR) references
// expanded as the kubelet does). parseServe is the parsing and checking
// `tollgate serve` runs before it touches anything, so this is the
// binary's verdict without starting it; a flag renamed or a check added
// (a plaintext non-loopback --grpc-addr needing a flag, say) fails here.
func TestKubernetesTollgateArgumentsParse(t *testing.T) {
	for _, k := range kubernetes.Kustomizations {
		objs, err := kubernetes.Render(filepath.Join(kubernetes.Dir(), k))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for name, d := range kubernetes.Deployments(objs) {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Image != "tollgate:dev" {
					continue
				}
				args, err := kubernetes.Args(c, objs, name+"-0")
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Command) != 0 || len(args) == 0 || args[0] != "serve" {
					t.Fatalf("%s %s/%s: command %v args %v, want the image's entrypoint with serve", k, name, c.Name, c.Command, args)
				}
				if _, err := parseServe(args[1:], io.Discard); err != nil {
					t.Errorf("%s %s/%s: tollgate %v: %v", k, name, c.Name, args, err)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Errorf("%s: no tollgate container found", k)
		}
	}
}
