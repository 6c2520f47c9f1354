package policy

import "regexp"

// tchars is an RFC 9110 token ("tchar"s), the characters of a media type's type,
// subtype and parameter names.
const tchars = "[a-zA-Z0-9!#$%&'*+.^_`|~-]+"

// mediaTypeRE is a media type as RFC 9110 writes it (token "/" token),
// without parameters: what Envoy compares a response's Content-Type with
// once its parameters are cut off.
var mediaTypeRE = regexp.MustCompile("^" + tchars + "/" + tchars + "$")

// contentTypeRE is a media type with optional parameters (RFC 9110 section
// 8.3.1), as a Content-Type value holds it.
var contentTypeRE = regexp.MustCompile("^" + tchars + "/" + tchars +
	"( *; *" + tchars + "=(\"[^\"]*\"|" + tchars + "))*$")
