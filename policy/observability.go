package policy

// AccessLog says where Envoy writes its access log: one JSON object per
// request (the fields are listed in docs/policy.md). Exactly one sink is
// used: a file Envoy writes itself, or Tollgate's gRPC access-log service,
// which writes the same JSON lines to Tollgate's own sink.
type AccessLog struct {
	Source `yaml:"-"`

	// Path is the file Envoy appends to; default /dev/stdout.
	Path string `yaml:"path"`
	// GRPC streams entries to Tollgate's access-log service instead.
	GRPC bool `yaml:"grpc"`
	// Disabled turns access logging off.
	Disabled bool `yaml:"disabled"`
}

// Tracing configures W3C trace context at the gateway. Envoy always injects
// a traceparent into requests that lack one and keeps the trace id of
// those that carry one; this block only tunes sampling and says where
// spans are exported.
type Tracing struct {
	Source `yaml:"-"`

	// Collector is host:port of an OpenTelemetry collector (OTLP over
	// gRPC). Without one, spans are not exported.
	Collector string `yaml:"collector"`
	// ServiceName names the gateway in exported spans; default "tollgate".
	ServiceName string `yaml:"service_name"`
	// SamplePercent is the share of new traces marked sampled; default 100.
	SamplePercent *float64 `yaml:"sample_percent"`
}

// mergeObservability takes the access_log and tracing blocks of one
// document; each may be written once in the whole policy.
func (p *Policy) mergeObservability(doc *document, errs *Errors) {
	if doc.AccessLog != nil {
		if p.AccessLog != nil {
			errs.addf(doc.AccessLog.Pos(), "access_log", "access_log is already defined at %s", p.AccessLog.Pos())
		} else {
			p.AccessLog = doc.AccessLog
		}
	}
	if doc.Tracing != nil {
		if p.Tracing != nil {
			errs.addf(doc.Tracing.Pos(), "tracing", "tracing is already defined at %s", p.Tracing.Pos())
		} else {
			p.Tracing = doc.Tracing
		}
	}
}

// applyObservabilityDefaults gives every policy an access log and a
// tracing block, so that translators need not handle their absence.
func applyObservabilityDefaults(p *Policy) {
	if p.AccessLog == nil {
		p.AccessLog = &AccessLog{}
	}
	if !p.AccessLog.GRPC && !p.AccessLog.Disabled && p.AccessLog.Path == "" {
		p.AccessLog.Path = DefaultAccessLogPath
	}
	if p.Tracing == nil {
		p.Tracing = &Tracing{}
	}
	if p.Tracing.ServiceName == "" {
		p.Tracing.ServiceName = DefaultTracingServiceName
	}
	if p.Tracing.SamplePercent == nil {
		pct := DefaultSamplePercent
		p.Tracing.SamplePercent = &pct
	}
}
