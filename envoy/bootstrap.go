package envoy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// Defaults shared by the committed bootstrap files, Start and the dev stack.
const (
	// DefaultXDSAddress is where `tollgate serve` listens for ADS (and,
	// on the same server, ext_authz, rate limits and access logs) by
	// default: the one spelling of it, which cmd/tollgate's --grpc-addr
	// and cmd/devstack use too.
	DefaultXDSAddress = "127.0.0.1:18000"
	// DefaultAdminAddress is Envoy's conventional admin address.
	DefaultAdminAddress = "127.0.0.1:9901"
	// DefaultNodeGroup is the node group (Envoy node cluster) Tollgate
	// configures when a policy names no other.
	DefaultNodeGroup = "default"
	// DefaultMaxConnections caps open downstream connections per Envoy.
	DefaultMaxConnections = 50000
)

//go:embed bootstrap.yaml.tmpl
var bootstrapSource string

// bootstrapTemplate is parsed once; a parse error is a programming error
// caught by every test in this package, so Must is acceptable here.
var bootstrapTemplate = template.Must(template.New("bootstrap.yaml.tmpl").
	Funcs(template.FuncMap{"json": jsonString}).
	Parse(bootstrapSource))

// BootstrapConfig says who an Envoy is and where it finds Tollgate. Empty
// fields take the Default* values, except NodeID, which is required because
// Tollgate tells Envoys apart by it.
type BootstrapConfig struct {
	// NodeID names this Envoy; it must be unique among the Envoys of a fleet.
	NodeID string
	// NodeGroup selects which configuration Tollgate serves this Envoy.
	NodeGroup string
	// XDSAddress is host:port of Tollgate's gRPC (ADS) server. The host may be
	// an IP address or a DNS name (such as a docker-compose service name).
	XDSAddress string
	// AdminAddress is host:port of Envoy's admin interface. Port 0 lets
	// Envoy pick a free port (see Start).
	AdminAddress string
	// Delta selects incremental xDS (DELTA_GRPC) instead of state of the world.
	Delta bool
	// MaxConnections caps open downstream connections.
	MaxConnections int
	// TLS, when set, makes Envoy reach Tollgate over mutual TLS: for xDS,
	// and for ext_authz, rate limiting and access logs, whose clusters
	// name the bootstrap's secrets ClientCertSecret and CASecret.
	TLS *TLSFiles
}

// The static secrets of the bootstrap that Tollgate's clusters refer to by
// name (xds.TollgateClientCertSecret and xds.TollgateCASecret).
const (
	ClientCertSecret = "tollgate_client_cert"
	CASecret         = "tollgate_ca"
)

// TLSFiles are the PEM files, on Envoy's machine, with which Envoy calls
// Tollgate: its client certificate chain and key, and the CA bundle
// Tollgate's certificate must chain to. Tollgate's certificate must also
// name the host of XDSAddress (a DNS or IP SAN). Paths must be absolute:
// Envoy resolves relative ones against its working directory. Envoy reads
// them when it starts.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// bootstrapData is what the template sees: BootstrapConfig split into the
// pieces Envoy's socket_address wants.
type bootstrapData struct {
	NodeID, NodeGroup       string
	AdminHost               string
	AdminPort               int
	XDSHost, XDSDiscovery   string
	XDSPort, MaxConnections int
	Delta                   bool
	// TLS, XDSSANType and XDSSNI are set for mutual TLS to Tollgate.
	TLS                *TLSFiles
	XDSSANType, XDSSNI string
	ClientCert, CACert string
}

// Bootstrap renders the Envoy bootstrap YAML for c.
func Bootstrap(c BootstrapConfig) ([]byte, error) {
	data, err := c.data()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := bootstrapTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return buf.Bytes(), nil
}

// data applies defaults, validates and splits c; all problems are reported
// together so a caller fixes them in one pass.
func (c BootstrapConfig) data() (bootstrapData, error) {
	d := bootstrapData{
		NodeID:         c.NodeID,
		NodeGroup:      orDefault(c.NodeGroup, DefaultNodeGroup),
		Delta:          c.Delta,
		MaxConnections: c.MaxConnections,
	}
	if d.MaxConnections == 0 {
		d.MaxConnections = DefaultMaxConnections
	}
	var errs []error
	errs = append(errs, checkName("node id", d.NodeID), checkName("node group", d.NodeGroup))
	if d.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max connections %d: must be positive", d.MaxConnections))
	}
	var err error
	d.XDSHost, d.XDSPort, err = splitAddress("xDS address", orDefault(c.XDSAddress, DefaultXDSAddress), false)
	errs = append(errs, err)
	d.AdminHost, d.AdminPort, err = splitAddress("admin address", orDefault(c.AdminAddress, DefaultAdminAddress), true)
	errs = append(errs, err)
	// An IP needs no resolver; a name (docker-compose's "tollgate") does.
	d.XDSDiscovery, d.XDSSANType, d.XDSSNI = "STRICT_DNS", "DNS", d.XDSHost
	if net.ParseIP(d.XDSHost) != nil {
		d.XDSDiscovery, d.XDSSANType, d.XDSSNI = "STATIC", "IP_ADDRESS", ""
	}
	if c.TLS != nil {
		d.TLS, d.ClientCert, d.CACert = c.TLS, ClientCertSecret, CASecret
		errs = append(errs, c.TLS.check())
	}
	if err := errors.Join(errs...); err != nil {
		return bootstrapData{}, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return d, nil
}

// check requires every file, by an absolute path.
func (f *TLSFiles) check() error {
	var errs []error
	for _, p := range []struct{ what, path string }{{"client certificate", f.CertFile}, {"client key", f.KeyFile}, {"CA bundle", f.CAFile}} {
		switch {
		case p.path == "":
			errs = append(errs, fmt.Errorf("TLS %s: no file given", p.what))
		case !filepath.IsAbs(p.path):
			errs = append(errs, fmt.Errorf("TLS %s %q: must be an absolute path, since Envoy resolves it from its own working directory", p.what, p.path))
		}
	}
	return errors.Join(errs...)
}

// checkName rejects names Envoy would accept but that would make logs and
// the admin interface unreadable.
func checkName(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("%s %q: contains control characters", what, v)
	}
	return nil
}

// splitAddress splits and checks a host:port; port 0 is allowed only where
// Envoy may pick the port itself.
func splitAddress(what, addr string, zeroPortOK bool) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want host:port: %w", what, addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 || (port == 0 && !zeroPortOK) {
		return "", 0, fmt.Errorf("%s %q: port must be a number from 1 to 65535", what, addr)
	}
	if host == "" || (net.ParseIP(host) == nil && !validHostname(host)) {
		return "", 0, fmt.Errorf("%s %q: host must be an IP address or a DNS name", what, addr)
	}
	return host, port, nil
}

// validHostname accepts DNS names made of letters, digits, '-', '_' and '.'.
func validHostname(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return false
		}
	}
	return len(h) <= 253
}

// jsonString quotes s for YAML: a JSON string is a valid YAML double-quoted
// scalar, so no value can break out of its field.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
