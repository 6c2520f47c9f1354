package policy

import (
	"slices"
	"testing"
)

// trafficHead declares a listener and two services for the cases below.
const trafficHead = "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] }, b: { endpoints: [127.0.0.1:2] } }\nroutes:\n"

// Each case is a broken mirror, fault or compression setting and the errors
// it must produce, as "line:col: text".
var invalidTrafficCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"mirror to an unknown service", trafficHead + "  - { name: r, to: a, mirror: { service: nowhere } }\n", []string{
		`4:42: routes.r.mirror.service: unknown service "nowhere"`,
	}},
	{"mirror without a service", trafficHead + "  - { name: r, to: a, mirror: { percent: 5 } }\n", []string{
		`4:31: routes.r.mirror.service: name the service that receives the copies`,
	}},
	{"mirror percent out of range", trafficHead + "  - { name: r, to: a, mirror: { service: b, percent: 101 } }\n  - { name: s, to: a, mirror: { service: b, percent: -1 } }\n", []string{
		`4:54: routes.r.mirror.percent: must be between 0 and 100, got 101`,
		`5:54: routes.s.mirror.percent: must be between 0 and 100, got -1`,
	}},
	{"empty fault", trafficHead + "  - { name: r, to: a, fault: {} }\n", []string{
		`4:30: routes.r.fault: a fault needs a delay, an abort or both`,
	}},
	{"fault values out of range", trafficHead + "  - name: r\n    to: a\n    fault:\n      delay: { duration: 0s, percent: 150 }\n      abort: { status: 99, percent: 100.5 }\n", []string{
		`7:26: routes.r.fault.delay.duration: must be positive, got 0s`,
		`7:39: routes.r.fault.delay.percent: must be between 0 and 100, got 150`,
		`8:24: routes.r.fault.abort.status: must be an HTTP status from 200 to 599, got 99`,
		`8:37: routes.r.fault.abort.percent: must be between 0 and 100, got 100.5`,
	}},
	{"fault parts without their value", trafficHead + "  - { name: r, to: a, fault: { delay: { percent: 5 }, abort: { percent: 5 } } }\n", []string{
		`4:39: routes.r.fault.delay.duration: a delay needs a duration, such as 2s`,
		`4:62: routes.r.fault.abort.status: an abort needs a status, such as 503`,
	}},
	{"fault header", trafficHead + "  - { name: r, to: a, fault: { abort: { status: 503 }, header: { name: x-envoy-fault-abort-request, present: true } } }\n  - { name: s, to: a, fault: { abort: { status: 503 }, header: { name: x-game-day } } }\n", []string{
		`4:72: routes.r.fault.header.name: "x-envoy-fault-abort-request" is removed from client requests`,
		`5:64: routes.s.fault.header: set exactly one of exact, regex and present`,
	}},
	{"listener compression", "listeners:\n  - name: l\n    port: 1\n    compression: { algorithms: [gzip, zstd, gzip], min_size: -1, content_types: [application/json, \"text/html; charset=utf-8\", JSON], disabled: true }\n", []string{
		`4:32: listeners.l.compression.algorithms: unknown algorithm "zstd"; expected one of: brotli, gzip`,
		`4:32: listeners.l.compression.algorithms: "gzip" is listed twice`,
		`4:62: listeners.l.compression.min_size: must be at least 0, got -1`,
		`4:81: listeners.l.compression.content_types: "text/html; charset=utf-8" is not a media type: write type/subtype without parameters, such as application/json`,
		`4:81: listeners.l.compression.content_types: "JSON" is not a media type`,
		`4:145: listeners.l.compression.disabled: a listener compresses only when it lists algorithms`,
	}},
	{"route compression", trafficHead + "  - { name: r, to: a, compression: { min_size: 10, content_types: [text/html] } }\n  - { name: s, to: a, compression: { algorithms: [], disabled: true } }\n", []string{
		`4:48: routes.r.compression.min_size: min_size is a listener setting (Envoy's compressor takes it per listener); set it in listeners[].compression`,
		`4:67: routes.r.compression.content_types: content_types is a listener setting`,
		`5:50: routes.s.compression.algorithms: disabled: true compresses nothing; remove algorithms or disabled`,
		`5:50: routes.s.compression.algorithms: list at least one algorithm (brotli, gzip), or write disabled: true`,
	}},
}

func TestLoadRejectsInvalidTrafficSettingsWithPositions(t *testing.T) {
	for _, tc := range invalidTrafficCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestTrafficDefaults(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": trafficHead +
		"  - { name: r, to: a, mirror: { service: b }, fault: { delay: { duration: 1s }, abort: { status: 503, percent: 0.5 } }, compression: {} }\n" +
		"  - { name: s, to: a, compression: { disabled: true } }\n"}))
	if err != nil {
		t.Fatal(err)
	}
	r, s, l := p.Routes[0], p.Routes[1], p.Listeners[0]
	if r.Mirror.Percent != 100 || r.Fault.Delay.Percent != 100 || r.Fault.Abort.Percent != 0.5 {
		t.Errorf("mirror %v%%, delay %v%%, abort %v%%; want 100, 100 and 0.5 as written", r.Mirror.Percent, r.Fault.Delay.Percent, r.Fault.Abort.Percent)
	}
	if !slices.Equal(r.Compression.Algorithms, []string{Gzip}) || !r.Compression.Enabled() || s.Compression.Enabled() {
		t.Errorf("route compression %+v / %+v: want gzip on r, off on s", r.Compression, s.Compression)
	}
	if l.Compression == nil || l.Compression.MinSize != DefaultCompressionMinSize || len(l.Compression.ContentTypes) == 0 || l.Compression.Enabled() {
		t.Errorf("listener compression %+v: want the default settings, off", l.Compression)
	}
}
