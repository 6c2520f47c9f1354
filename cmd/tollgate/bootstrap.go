package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/atomicfile"
)

const bootstrapUsage = `Usage: tollgate bootstrap [flags]

Writes the Envoy bootstrap of one proxy: who it is (node id, node group),
where it finds Tollgate, and the files of its client certificate when
Tollgate serves mutual TLS. Run it once per pod or host (an init container,
a unit's ExecStartPre) so that every Envoy gets its own node id.
`

// bootstrapConfig is what bootstrap's flags say.
type bootstrapConfig struct {
	envoy.BootstrapConfig
	tls    envoy.TLSFiles
	output string
}

// parseBootstrap reads bootstrap's flags; the node id defaults to the
// host name, which is the pod name in Kubernetes.
func parseBootstrap(args []string, hostname func() (string, error)) (*bootstrapConfig, error) {
	c := &bootstrapConfig{}
	fs := newFlagSet("bootstrap", bootstrapUsage)
	fs.StringVar(&c.NodeID, "node-id", "", "this Envoy's node id, unique in the fleet (default: the host name)")
	fs.StringVar(&c.NodeGroup, "node-group", envoy.DefaultNodeGroup, "node group (Envoy's node cluster): which configuration Tollgate serves this Envoy")
	fs.StringVar(&c.XDSAddress, "xds-addr", envoy.DefaultXDSAddress, "host:port of Tollgate's gRPC server (an IP address or a DNS name)")
	fs.StringVar(&c.AdminAddress, "admin-addr", envoy.DefaultAdminAddress, "host:port of Envoy's admin interface")
	fs.StringVar(&c.tls.CertFile, "tls-cert", "", "absolute path, on Envoy's machine, of Envoy's PEM client certificate for Tollgate's mutual TLS")
	fs.StringVar(&c.tls.KeyFile, "tls-key", "", "absolute path of the PEM key of --tls-cert")
	fs.StringVar(&c.tls.CAFile, "tls-ca", "", "absolute path of the PEM CA bundle Tollgate's certificate must chain to")
	fs.BoolVar(&c.Delta, "delta", false, "use incremental (delta) xDS")
	fs.IntVar(&c.MaxConnections, "max-connections", envoy.DefaultMaxConnections, "cap on open downstream connections")
	fs.StringVar(&c.output, "output", "-", "file to write, replaced atomically, or - for standard output")
	if err := noArgs(parseArgs(fs, args)); err != nil {
		return nil, err
	}
	if c.tls != (envoy.TLSFiles{}) {
		c.TLS = &c.tls
	}
	if c.NodeID == "" {
		h, err := hostname()
		if err != nil || h == "" {
			return nil, errors.New("no --node-id, and the host name is unknown")
		}
		c.NodeID = h
	}
	// The generator's checks are about the flags' values: usage errors.
	if _, err := envoy.Bootstrap(c.BootstrapConfig); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

func bootstrap(args []string, stdout io.Writer) error {
	c, err := parseBootstrap(args, os.Hostname)
	if err != nil {
		return err
	}
	yaml, err := envoy.Bootstrap(c.BootstrapConfig)
	if err != nil {
		return err
	}
	if c.output == "-" {
		_, err = stdout.Write(yaml)
		return err
	}
	// Readable by Envoy's user (another uid in a pod's init container);
	// it names the key file but holds no secret.
	if err := atomicfile.Write(c.output, yaml, 0o644, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", c.output, err)
	}
	return nil
}
