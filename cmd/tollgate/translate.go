package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/xds"
)

const translateUsage = `Usage: tollgate translate [flags] DIR

Prints the Envoy resources the policy in DIR produces for one node group
(listeners, route configurations, clusters, endpoints), exactly as
tollgate serve sends them, for reviews and bug reports. Secrets are listed
by name only: their content is key material. Exits 0, or 1 when the policy
does not load or translate.
`

// translateFlags are the settings translate and diff share: which group,
// and where Envoy reaches Tollgate's own gRPC services (they appear in the
// clusters), as serve's flags of the same names say.
type translateFlags struct {
	group    string
	grpcAddr string
	tls      bool
}

func (f *translateFlags) options() xds.Options {
	return xds.Options{AuthzAddress: f.grpcAddr, RateLimitAddress: f.grpcAddr, AccessLogAddress: f.grpcAddr, TLS: f.tls}
}

// translate prints a policy's Envoy resources.
func translate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("translate", translateUsage)
	var f translateFlags
	fs.StringVar(&f.group, "group", xds.DefaultGroup, "node group to translate for (an Envoy's --service-cluster)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", defaultGRPCAddr, "serve's --grpc-addr: where Envoy reaches Tollgate's gRPC services")
	fs.BoolVar(&f.tls, "grpc-tls", false, "serve runs with --grpc-tls-cert: Envoy reaches Tollgate over mutual TLS")
	format := fs.String("format", "yaml", "output format: yaml or json")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want one policy directory, got %d arguments", len(positional))
	}
	if *format != "yaml" && *format != "json" {
		return usagef("--format %q: want yaml or json", *format)
	}
	p, err := policy.Load(positional[0])
	if err != nil {
		return policyFailure(stderr, err, 1)
	}
	doc, err := renderGroup(p, f.group, f.options())
	if err != nil {
		return err
	}
	return writeDoc(stdout, *format, doc)
}

// renderGroup translates a policy for one group, as serve does, and
// renders the result.
func renderGroup(p *policy.Policy, group string, opts xds.Options) (*xds.Rendered, error) {
	res, err := xds.Translate(p, group, opts)
	if err != nil {
		return nil, err
	}
	return res.Render(group)
}

// writeDoc writes v as indented JSON or as YAML.
func writeDoc(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if err := xds.EncodeYAML(w, v); err != nil {
		return fmt.Errorf("rendering YAML: %w", err)
	}
	return nil
}
