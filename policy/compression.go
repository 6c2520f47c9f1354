package policy

// Compression says how Envoy compresses responses for clients that accept
// it (Accept-Encoding). On a listener it holds the settings every route of
// the listener uses (minimum size and content types) and, with
// algorithms, turns compression on for all of them. On a route it turns
// compression on with its algorithms, or off with disabled: true, whatever
// the listener says. Minimum size and content types are listener settings
// only: Envoy's compressor takes them per filter, and a route can only
// switch it or choose its algorithm.
type Compression struct {
	Source `yaml:"-"`

	// Algorithms are the encodings offered, among CompressionAlgorithms;
	// the client's Accept-Encoding chooses. Default on a route
	// DefaultRouteCompression; none on a listener (routes opt in).
	Algorithms []string `yaml:"algorithms"`
	// MinSize is the smallest response body compressed, in bytes (listener
	// only). Default DefaultCompressionMinSize.
	MinSize int `yaml:"min_size"`
	// ContentTypes are the media types compressed, without parameters
	// (listener only). Default DefaultCompressionContentTypes.
	ContentTypes []string `yaml:"content_types"`
	// Disabled turns compression off on a route (route only).
	Disabled bool `yaml:"disabled"`
}

// The compression algorithms Tollgate offers: those Envoy 1.40 is built
// with, as policies name them (Envoy sends brotli as Content-Encoding "br").
const (
	Gzip   = "gzip"
	Brotli = "brotli"
)

// CompressionAlgorithms lists every algorithm in the order Envoy's filters
// run them, which also breaks ties between equal Accept-Encoding weights.
var CompressionAlgorithms = []string{Brotli, Gzip}

// Enabled reports whether the settings turn compression on.
func (c *Compression) Enabled() bool { return c != nil && !c.Disabled && len(c.Algorithms) > 0 }
