package policy

// traffic checks the mirror, fault and compression settings of every
// listener and route.
func (v *validator) traffic() {
	for i, l := range v.p.Listeners {
		v.listenerCompression(l.Compression, listPath("listeners", i, l.Name)+".compression")
	}
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name)
		v.mirror(r.Mirror, path+".mirror")
		v.fault(r.Fault, path+".fault")
		v.routeCompression(r.Compression, path+".compression")
	}
}

// percent reports a written percentage outside 0 to 100.
func (v *validator) percent(s Source, field string, p float64, path string) {
	if s.Has(field) && (p < 0 || p > 100 || p != p) { // p != p: NaN
		v.errorf(s.At(field), path+"."+field, "must be between 0 and 100, got %v", p)
	}
}
