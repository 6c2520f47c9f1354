package main

import "github.com/tollgate/tollgate/policy"

// accessLogRow is where the serving policy sends access logs.
type accessLogRow struct {
	Sink string `json:"sink"` // "file", "grpc" or "disabled"
	Path string `json:"path,omitempty"`
}

// tracingRow is how the serving policy traces requests.
type tracingRow struct {
	Collector     string  `json:"collector,omitempty"`
	ServiceName   string  `json:"service_name"`
	SamplePercent float64 `json:"sample_percent"`
}

// observabilityView summarizes the access_log and tracing blocks, which
// Load always sets.
func observabilityView(p *policy.Policy) (*accessLogRow, *tracingRow) {
	var a *accessLogRow
	switch l := p.AccessLog; {
	case l.Disabled:
		a = &accessLogRow{Sink: "disabled"}
	case l.GRPC:
		a = &accessLogRow{Sink: "grpc"}
	default:
		a = &accessLogRow{Sink: "file", Path: l.Path}
	}
	tr := p.Tracing
	return a, &tracingRow{Collector: tr.Collector, ServiceName: tr.ServiceName, SamplePercent: *tr.SamplePercent}
}
