package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/tollgate/tollgate/policy"
)

// configureResilienceAndTLS adds to a service's cluster what protects it
// and how it is reached: circuit breakers, outlier detection, active
// health checks, the upstream protocol and upstream TLS. Each has its own
// translator file.
func configureResilienceAndTLS(c *clusterv3.Cluster, s *policy.Service) error {
	c.CircuitBreakers = circuitBreakers(s)
	c.OutlierDetection = outlierDetection(s)
	c.HealthChecks = healthChecks(s)
	c.CommonLbConfig = healthCheckLbConfig(s)
	opts, err := upstreamProtocolOptions(s)
	if err != nil {
		return err
	}
	c.TypedExtensionProtocolOptions = opts
	c.TransportSocket, err = upstreamTransportSocket(s)
	return err
}
