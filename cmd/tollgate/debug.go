package main

import (
	"time"

	"github.com/tollgate/tollgate/internal/reloader"
)

// configView is what /debug/config shows of the serving generation. It
// lists names and shapes only: policy files may one day carry secrets, so
// nothing is dumped wholesale.
type configView struct {
	Version   string        `json:"version"`
	LoadedAt  time.Time     `json:"loaded_at"`
	Files     []string      `json:"files"`
	LastError string        `json:"last_error,omitempty"`
	Listeners []listenerRow `json:"listeners"`
	Services  []serviceRow  `json:"services"`
	Routes    []routeRow    `json:"routes"`
	AccessLog *accessLogRow `json:"access_log,omitempty"`
	Tracing   *tracingRow   `json:"tracing,omitempty"`
	// RestoredFrom is the state file the generation came from when the
	// policy directory was refused at startup.
	RestoredFrom string `json:"restored_from,omitempty"`
}

type listenerRow struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Port    int      `json:"port"`
	Hosts   []string `json:"hosts"`
	TLS     *tlsRow  `json:"tls,omitempty"`
}

type serviceRow struct {
	Name          string   `json:"name"`
	Endpoints     []string `json:"endpoints"`
	LoadBalancing string   `json:"load_balancing"`
	Protocol      string   `json:"protocol,omitempty"`
	TLS           *tlsRow  `json:"tls,omitempty"`
}

type routeRow struct {
	Name string   `json:"name"`
	To   []string `json:"to"`
}

func debugConfig(rl *reloader.Reloader) configView {
	g := rl.Current()
	if g == nil {
		return configView{LastError: rl.LastError()}
	}
	p := g.Policy
	v := configView{Version: p.Version, LoadedAt: g.LoadedAt, Files: p.Files, LastError: rl.LastError(), RestoredFrom: g.RestoredFrom}
	v.AccessLog, v.Tracing = observabilityView(p)
	for _, l := range p.Listeners {
		v.Listeners = append(v.Listeners, listenerRow{l.Name, l.Address, l.Port, l.Hosts, listenerTLSRow(l.TLS)})
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		row := serviceRow{Name: name, LoadBalancing: string(s.LoadBalancing), Protocol: string(s.Protocol), TLS: upstreamTLSRow(s.TLS)}
		for _, e := range s.Endpoints {
			row.Endpoints = append(row.Endpoints, e.Address)
		}
		v.Services = append(v.Services, row)
	}
	for _, r := range p.Routes {
		row := routeRow{Name: r.Name}
		for _, d := range r.To {
			row.To = append(row.To, d.Service)
		}
		v.Routes = append(v.Routes, row)
	}
	return v
}
