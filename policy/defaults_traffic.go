package policy

import "slices"

// The defaults of request mirroring, fault injection and compression.
const (
	// DefaultMirrorPercent copies every request: a mirror is most often a
	// new version tried on the whole of the traffic.
	DefaultMirrorPercent = 100.0
	// DefaultFaultPercent hits every request the fault applies to; a
	// fault limited by a header is then on for exactly the requests that
	// ask for it.
	DefaultFaultPercent = 100.0
	// DefaultCompressionMinSize leaves alone a body that fits in one
	// packet anyway, where compressing costs CPU and saves nothing.
	DefaultCompressionMinSize = 1024
)

// DefaultRouteCompression is the algorithm of a route's compression block
// that names none: gzip, which every client that compresses accepts.
var DefaultRouteCompression = []string{Gzip}

// DefaultCompressionContentTypes are the media types compressed unless a
// listener lists its own: text and the structured formats APIs answer
// with (Envoy's own default list, written out).
var DefaultCompressionContentTypes = []string{
	"application/javascript", "application/json", "application/xhtml+xml", "image/svg+xml",
	"text/css", "text/html", "text/plain", "text/xml",
}

// applyTrafficDefaults fills the mirror, fault and compression fields left
// out.
func applyTrafficDefaults(p *Policy) {
	for _, l := range p.Listeners {
		if l.Compression == nil {
			l.Compression = &Compression{}
		}
		c := l.Compression
		if !c.Has("min_size") {
			c.MinSize = DefaultCompressionMinSize
		}
		if len(c.ContentTypes) == 0 {
			c.ContentTypes = slices.Clone(DefaultCompressionContentTypes)
		}
	}
	for _, r := range p.Routes {
		if m := r.Mirror; m != nil && !m.Has("percent") {
			m.Percent = DefaultMirrorPercent
		}
		if f := r.Fault; f != nil {
			if f.Delay != nil && !f.Delay.Has("percent") {
				f.Delay.Percent = DefaultFaultPercent
			}
			if f.Abort != nil && !f.Abort.Has("percent") {
				f.Abort.Percent = DefaultFaultPercent
			}
		}
		if c := r.Compression; c != nil && !c.Disabled && len(c.Algorithms) == 0 {
			c.Algorithms = slices.Clone(DefaultRouteCompression)
		}
	}
}
