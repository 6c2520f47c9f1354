package policy

import (
	"slices"
	"strings"
)

func (v *validator) listenerCompression(c *Compression, path string) {
	if c == nil {
		return
	}
	v.algorithms(c, path)
	if c.Has("disabled") {
		v.errorf(c.At("disabled"), path+".disabled", "a listener compresses only when it lists algorithms; remove disabled (routes may set it)")
	}
	v.atLeast(c.Source, "min_size", c.MinSize, 0, path)
	if c.Has("content_types") && len(c.ContentTypes) == 0 {
		v.errorf(c.At("content_types"), path+".content_types", "list at least one media type, or leave content_types out for the default list")
	}
	for _, t := range c.ContentTypes {
		if !mediaTypeRE.MatchString(t) || t != strings.ToLower(t) {
			v.errorf(c.At("content_types"), path+".content_types", "%q is not a media type: write type/subtype without parameters, such as application/json", t)
		}
	}
}

func (v *validator) routeCompression(c *Compression, path string) {
	if c == nil {
		return
	}
	v.algorithms(c, path)
	for _, f := range []string{"min_size", "content_types"} {
		if c.Has(f) {
			v.errorf(c.At(f), path+"."+f, "%s is a listener setting (Envoy's compressor takes it per listener); set it in listeners[].compression", f)
		}
	}
	if c.Disabled && c.Has("algorithms") {
		v.errorf(c.At("algorithms"), path+".algorithms", "disabled: true compresses nothing; remove algorithms or disabled")
	}
	if c.Has("algorithms") && len(c.Algorithms) == 0 {
		v.errorf(c.At("algorithms"), path+".algorithms", "list at least one algorithm (%s), or write disabled: true", strings.Join(CompressionAlgorithms, ", "))
	}
}

func (v *validator) algorithms(c *Compression, path string) {
	seen := map[string]bool{}
	for _, a := range c.Algorithms {
		switch {
		case !slices.Contains(CompressionAlgorithms, a):
			v.errorf(c.At("algorithms"), path+".algorithms", "unknown algorithm %q; expected one of: %s", a, strings.Join(CompressionAlgorithms, ", "))
		case seen[a]:
			v.errorf(c.At("algorithms"), path+".algorithms", "%q is listed twice", a)
		}
		seen[a] = true
	}
}
