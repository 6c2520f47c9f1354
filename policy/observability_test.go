package policy

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestObservabilityDefaults(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"gateway.yaml": validPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	if p.AccessLog.Path != DefaultAccessLogPath || p.AccessLog.GRPC {
		t.Errorf("access log default: got %+v", p.AccessLog)
	}
	if p.Tracing.ServiceName != "tollgate" || *p.Tracing.SamplePercent != 100 || p.Tracing.Collector != "" {
		t.Errorf("tracing default: got %+v", p.Tracing)
	}
}

func TestObservabilityBlocks(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{
		"a.yaml": validPolicy,
		"b.yaml": "access_log: { grpc: true }\ntracing: { collector: otel:4317, service_name: edge, sample_percent: 12.5 }\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.AccessLog.GRPC || p.AccessLog.Path != "" {
		t.Errorf("access log: got %+v", p.AccessLog)
	}
	if tr := p.Tracing; tr.Collector != "otel:4317" || tr.ServiceName != "edge" || *tr.SamplePercent != 12.5 {
		t.Errorf("tracing: got %+v", tr)
	}
}

func TestObservabilityErrorsArePositioned(t *testing.T) {
	cases := []struct {
		name, policy string
		want         []string
	}{
		{"two sinks", "access_log: { path: /var/log/a.log, grpc: true }\n",
			[]string{"1:13: access_log: write only one of path, grpc: true and disabled: true"}},
		{"relative path", "access_log:\n  path: logs/a.log\n",
			[]string{`2:9: access_log.path: "logs/a.log" is not an absolute path`}},
		{"unknown field", "access_log: { format: text }\n",
			[]string{`1:15: access_log.format: unknown field "format"; expected one of: disabled, grpc, path`}},
		{"bad collector", "tracing:\n  collector: otel\n",
			[]string{`2:14: tracing.collector: "otel": want host:port`}},
		{"collector port", "tracing: { collector: \"otel:0\" }\n",
			[]string{`1:23: tracing.collector: "otel:0": the port must be between 1 and 65535`}},
		{"sampling range", "tracing: { sample_percent: 101 }\n",
			[]string{"1:28: tracing.sample_percent: must be between 0 and 100, got 101"}},
		{"empty service name", "tracing: { service_name: \"\" }\n",
			[]string{"1:26: tracing.service_name: must not be empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestObservabilityBlockDefinedTwice(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"a.yaml": "access_log: { grpc: true }\n",
		"b.yaml": "\naccess_log: { path: /tmp/x.log }\n",
	})
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + ":2:13: access_log: access_log is already defined at " + filepath.Join(dir, "a.yaml") + ":1:13"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}
