package policy

import (
	"net"
	"path/filepath"
	"strconv"
)

// observability checks the access_log and tracing blocks.
func (v *validator) observability() {
	if a := v.p.AccessLog; a != nil {
		v.accessLog(a)
	}
	if t := v.p.Tracing; t != nil {
		v.tracing(t)
	}
}

func (v *validator) accessLog(a *AccessLog) {
	sinks := 0
	for _, set := range []bool{a.Path != "", a.GRPC, a.Disabled} {
		if set {
			sinks++
		}
	}
	if sinks > 1 {
		v.errorf(a.Pos(), "access_log", "write only one of path, grpc: true and disabled: true")
	}
	if a.Path != "" && !filepath.IsAbs(a.Path) {
		v.errorf(a.At("path"), "access_log.path", "%q is not an absolute path: Envoy resolves relative paths against its own working directory", a.Path)
	}
}

func (v *validator) tracing(t *Tracing) {
	if t.Collector != "" {
		if err := hostPort(t.Collector); err != "" {
			v.errorf(t.At("collector"), "tracing.collector", "%q: %s", t.Collector, err)
		}
	}
	if t.SamplePercent != nil && (*t.SamplePercent < 0 || *t.SamplePercent > 100) {
		v.errorf(t.At("sample_percent"), "tracing.sample_percent", "must be between 0 and 100, got %v", *t.SamplePercent)
	}
	if t.Has("service_name") && t.ServiceName == "" {
		v.errorf(t.At("service_name"), "tracing.service_name", "must not be empty")
	}
}

// hostPort checks a host:port address and says what is wrong with it.
func hostPort(addr string) string {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "want host:port, such as 127.0.0.1:4317 or otel-collector:4317"
	}
	if port, err := strconv.Atoi(portText); err != nil || port < 1 || port > 65535 {
		return "the port must be between 1 and 65535"
	}
	return ""
}
