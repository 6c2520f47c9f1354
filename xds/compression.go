package xds

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	brotliv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/brotli/compressor/v3"
	gzipv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/gzip/compressor/v3"
	compressorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/compressor/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// compressionFilter is one instance of Envoy's compressor filter, for one
// algorithm; the chain holds one per policy.CompressionAlgorithms, and
// Envoy gives a response the encoding the client weighs highest among the
// enabled ones (the first in the chain on a tie).
//
// Each is disabled in the listener, which holds the listener's minimum
// size and content types: Envoy's per-route compressor configuration can
// only switch the filter or its library, never those. A listener whose
// compression lists the algorithm enables it for every route through its
// virtual host (compressionVirtualHost); a route's compression enables or
// disables it on the route. Switching compression on a route is therefore
// a route configuration change only.
type compressionFilter struct{ algorithm string }

func (f compressionFilter) name() string { return "tollgate.compression." + f.algorithm }

func (compressionFilter) optIn() bool { return true }

func (f compressionFilter) listenerConfig(_ *policy.Policy, l *policy.Listener) (proto.Message, error) {
	lib, err := compressorLibrary(f.algorithm)
	if err != nil {
		return nil, err
	}
	c := l.Compression
	return &compressorv3.Compressor{
		CompressorLibrary: lib,
		ResponseDirectionConfig: &compressorv3.Compressor_ResponseDirectionConfig{
			CommonConfig: &compressorv3.Compressor_CommonDirectionConfig{
				MinContentLength:   wrapperspb.UInt32(uint32(c.MinSize)), //nolint:gosec // G115: validation keeps it within uint32
				ContentTypeMatcher: contentTypeMatchers(c.ContentTypes),
			},
		},
	}, nil
}

// routeConfig enables the algorithm on a route that lists it, and disables
// it on a route that writes compression without it; a route without
// compression takes its listener's (virtual host's) setting.
func (f compressionFilter) routeConfig(_ *policy.Policy, r *policy.Route) (proto.Message, error) {
	if r.Compression == nil {
		return nil, nil
	}
	return compressorSwitch(r.Compression.Enabled() && slices.Contains(r.Compression.Algorithms, f.algorithm)), nil
}

// compressorSwitch turns the compressor on or off. Any per-route
// configuration enables a filter disabled in the listener, and overrides
// with a response direction enable response compression. Off is the
// connection manager's FilterConfig{disabled}, which skips the filter,
// rather than the compressor's own disabled: a compressor that runs
// disabled still offers its encoding to the others, and a client
// preferring it (br over gzip) would then get neither.
func compressorSwitch(on bool) proto.Message {
	if !on {
		return &routev3.FilterConfig{Disabled: true}
	}
	return &compressorv3.CompressorPerRoute{Override: &compressorv3.CompressorPerRoute_Overrides{
		Overrides: &compressorv3.CompressorOverrides{ResponseDirectionConfig: &compressorv3.ResponseDirectionOverrides{}},
	}}
}

// compressionVirtualHost enables a listener's algorithms on every route of
// its virtual host; routes that write compression override it.
func compressionVirtualHost(l *policy.Listener, into map[string]*anypb.Any) (map[string]*anypb.Any, error) {
	if !l.Compression.Enabled() {
		return into, nil
	}
	out := maps.Clone(into)
	if out == nil {
		out = map[string]*anypb.Any{}
	}
	for _, algorithm := range l.Compression.Algorithms {
		a, err := anypb.New(compressorSwitch(true))
		if err != nil {
			return nil, fmt.Errorf("encoding the %s compression switch: %w", algorithm, err)
		}
		out[compressionFilter{algorithm}.name()] = a
	}
	return out, nil
}

// contentTypeMatchers match each media type whatever its case and
// parameters ("text/html; charset=utf-8"). They replace the deprecated
// content_type list, which Envoy warns about on every update.
func contentTypeMatchers(types []string) []*matcherv3.StringMatcher {
	out := make([]*matcherv3.StringMatcher, len(types))
	for i, t := range types {
		out[i] = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: `(?i)` + regexp.QuoteMeta(t) + `\s*(;.*)?`},
		}}
	}
	return out
}

// compressorLibrary is Envoy's compressor extension for an algorithm, with
// its default settings (gzip level 6 and brotli quality 3 are Envoy's
// trade-offs between CPU and size for responses compressed on the fly).
func compressorLibrary(algorithm string) (*corev3.TypedExtensionConfig, error) {
	var config proto.Message
	switch algorithm {
	case policy.Gzip:
		config = &gzipv3.Gzip{}
	case policy.Brotli:
		config = &brotliv3.Brotli{}
	default:
		return nil, fmt.Errorf("unknown compression algorithm %q", algorithm)
	}
	a, err := anypb.New(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s compressor: %w", algorithm, err)
	}
	return &corev3.TypedExtensionConfig{Name: algorithm, TypedConfig: a}, nil
}
