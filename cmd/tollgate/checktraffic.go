package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// describeTraffic fills in the mirror, fault and compression settings that
// apply to a request on the named listener.
func (c *checkRoute) describeTraffic(p *policy.Policy, listener string, r *policy.Route) {
	if m := r.Mirror; m != nil {
		c.Mirror = fmt.Sprintf("%s%% to %s (answers dropped)", percent(m.Percent), m.Service)
	}
	if f := r.Fault; f != nil {
		c.Fault = describeFault(f)
	}
	c.Compression = "off"
	comp := r.Compression
	var l *policy.Listener
	for _, candidate := range p.Listeners {
		if candidate.Name == listener {
			l = candidate
		}
	}
	if comp == nil && l != nil {
		comp = l.Compression
	}
	if comp.Enabled() && l != nil {
		c.Compression = fmt.Sprintf("%s, responses of %d bytes or more of %s", strings.Join(comp.Algorithms, ", "),
			l.Compression.MinSize, strings.Join(l.Compression.ContentTypes, ", "))
	}
}

func describeFault(f *policy.Fault) string {
	var parts []string
	if d := f.Delay; d != nil {
		parts = append(parts, fmt.Sprintf("delay %s for %s%%", d.Duration.D(), percent(d.Percent)))
	}
	if a := f.Abort; a != nil {
		parts = append(parts, fmt.Sprintf("abort %d for %s%%", a.Status, percent(a.Percent)))
	}
	s := strings.Join(parts, ", ")
	if f.Header != nil {
		s += " of requests with header " + describeValue(f.Header)
	}
	return s
}

func percent(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// printTraffic writes the mirror, fault and compression lines.
func (c *checkRoute) printTraffic(w io.Writer) {
	if c.Mirror != "" {
		fmt.Fprintf(w, "mirror:    %s\n", c.Mirror)
	}
	if c.Fault != "" {
		fmt.Fprintf(w, "fault:     %s\n", c.Fault)
	}
	fmt.Fprintf(w, "compress:  %s\n", c.Compression)
}
