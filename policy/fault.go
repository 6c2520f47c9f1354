package policy

// Fault injects failures into a route's requests, to try the resilience
// settings of the clients and of the gateway (retries, timeouts) before an
// outage does: a delay before the request goes on to the service, an
// abort answered in the service's stead, or both. Routes without a fault
// see none; Envoy's own fault headers (x-envoy-fault-*) are never honored
// and are removed from client requests.
type Fault struct {
	Source `yaml:"-"`

	Delay *FaultDelay `yaml:"delay"`
	Abort *FaultAbort `yaml:"abort"`
	// Header, when set, limits the fault to requests carrying this header
	// (exact, regex or present, as a route's match); the percentages then
	// apply to those requests. Without it every request of the route may
	// be hit.
	Header *ValueMatch `yaml:"header"`
}

// FaultDelay holds a request for Duration before it goes on, for Percent
// of the requests.
type FaultDelay struct {
	Source `yaml:"-"`

	Duration Duration `yaml:"duration"`
	// Percent from 0 to 100. Default DefaultFaultPercent.
	Percent float64 `yaml:"percent"`
}

// FaultAbort answers Status in the service's stead, for Percent of the
// requests.
type FaultAbort struct {
	Source `yaml:"-"`

	// Status is the HTTP status of the answer, 200 to 599.
	Status int `yaml:"status"`
	// Percent from 0 to 100. Default DefaultFaultPercent.
	Percent float64 `yaml:"percent"`
}
