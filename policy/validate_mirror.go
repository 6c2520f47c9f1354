package policy

func (v *validator) mirror(m *Mirror, path string) {
	if m == nil {
		return
	}
	switch _, ok := v.p.Services[m.Service]; {
	case !m.Has("service"):
		v.errorf(m.Pos(), path+".service", "name the service that receives the copies")
	case !ok:
		v.errorf(m.At("service"), path+".service", "unknown service %q", m.Service)
	}
	v.percent(m.Source, "percent", m.Percent, path)
}
