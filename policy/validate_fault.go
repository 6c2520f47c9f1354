package policy

import "strings"

func (v *validator) fault(f *Fault, path string) {
	if f == nil {
		return
	}
	if f.Delay == nil && f.Abort == nil {
		v.errorf(f.Pos(), path, "a fault needs a delay, an abort or both")
	}
	if d := f.Delay; d != nil {
		dpath := path + ".delay"
		if !d.Has("duration") {
			v.errorf(d.Pos(), dpath+".duration", "a delay needs a duration, such as 2s")
		}
		v.positiveDuration(d.Source, "duration", d.Duration, dpath)
		v.percent(d.Source, "percent", d.Percent, dpath)
	}
	if a := f.Abort; a != nil {
		apath := path + ".abort"
		switch {
		case !a.Has("status"):
			v.errorf(a.Pos(), apath+".status", "an abort needs a status, such as 503")
		case a.Status < 200 || a.Status > 599:
			v.errorf(a.At("status"), apath+".status", "must be an HTTP status from 200 to 599, got %d", a.Status)
		}
		v.percent(a.Source, "percent", a.Percent, apath)
	}
	if h := f.Header; h != nil {
		v.valueMatch(h, path+".header", true)
		v.faultHeader(h, path+".header.name")
	}
}

// faultHeader refuses a trigger on an x-envoy- header: Envoy's own fault
// headers are named so, and the gateway removes every x-envoy- header a
// client sends, so such a trigger would never fire. Other headers the
// gateway sets (x-tollgate-client-id, ...) are fine: the fault filter runs
// after authentication, so it reads the gateway's value, which lets a
// fault hit one test client only.
func (v *validator) faultHeader(h *ValueMatch, path string) {
	if strings.HasPrefix(strings.ToLower(h.Name), "x-envoy-") {
		v.errorf(h.At("name"), path, "%q is removed from client requests (x-envoy- headers are Envoy's); name another header", h.Name)
	}
}
