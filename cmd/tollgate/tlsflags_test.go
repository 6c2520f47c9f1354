package main

import (
	"testing"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/xds"
)

// TestTollgateClustersNameTheBootstrapSecrets: the clusters xds sends for
// Tollgate's own services name static secrets that envoy's bootstrap
// defines; the two packages do not import each other, so the names are
// checked here, where both are wired.
func TestTollgateClustersNameTheBootstrapSecrets(t *testing.T) {
	if envoy.ClientCertSecret != xds.TollgateClientCertSecret || envoy.CASecret != xds.TollgateCASecret {
		t.Errorf("bootstrap secrets %q, %q; the clusters name %q, %q",
			envoy.ClientCertSecret, envoy.CASecret, xds.TollgateClientCertSecret, xds.TollgateCASecret)
	}
}
