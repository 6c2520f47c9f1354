package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

const statusUsage = `Usage: tollgate status [--admin URL] [--json] [--timeout 5s]

Shows what a running Tollgate knows of the gateway, from its admin server's
/debug/status: the serving policy generation and on how many proxies it is
applied, each connected proxy (node group, generation applied, last NACK),
the staged rollout, and degraded modes (Redis unreachable, identity
provider keys failing, a refused reload). --json prints the model as
served, for scripts. The same, live, is the page at /status.
`

// maxStatusBytes bounds the answer read: the model of 1,000 proxies and
// 10,000 routes fits in a few megabytes.
const maxStatusBytes = 64 << 20

// statusCmd fetches the status model and prints it.
func statusCmd(args []string, stdout io.Writer) error {
	var adminURL string
	var asJSON bool
	var timeout time.Duration
	fs := newFlagSet("status", statusUsage)
	fs.StringVar(&adminURL, "admin", "http://"+defaultAdminAddr, "the admin server's URL")
	fs.BoolVar(&asJSON, "json", false, "print the status model as JSON")
	durationVar(fs, &timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	if err := noArgs(parseArgs(fs, args)); err != nil {
		return err
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--admin: want an http:// or https:// URL, got %q", adminURL)
	}
	st, raw, err := fetchStatus(&http.Client{Timeout: timeout}, u.JoinPath("/debug/status").String())
	if err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	return writeStatus(stdout, st)
}

// fetchStatus gets and decodes the model, returning its JSON as well.
func fetchStatus(client *http.Client, u string) (Status, []byte, error) {
	var st Status
	resp, err := client.Get(u) //nolint:gosec // G107: the URL is the operator's own argument
	if err != nil {
		return st, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBytes))
	if err != nil {
		return st, nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("%s: %s (a Tollgate older than tollgate status?)", u, resp.Status)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, nil, fmt.Errorf("%s: not a status model: %w", u, err)
	}
	return st, raw, nil
}

// writeStatus prints the model as a few tables for a terminal.
func writeStatus(w io.Writer, st Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("tollgate %s (%s), status at %s\n", clean(st.Tollgate), strings.Join(st.Components, ", "), st.At.UTC().Format(time.RFC3339))
	writeGeneration(p, st)
	writeProxies(p, st.Proxies)
	writeRollout(p, st.Rollout)
	p("\nDEGRADED MODES\n")
	if len(st.Degraded) == 0 {
		p("none\n")
	}
	for _, d := range st.Degraded {
		p("%s\t%s\t%s\n", clean(d.Component), clean(d.Mode), clean(d.Detail))
	}
	p("\nrecent: %d denials, %d rate-limit events (tollgate status --json, or the page at /status)\n", len(st.Denials), len(st.RateLimitEvents))
	return tw.Flush()
}

type printer func(format string, a ...any)

func writeGeneration(p printer, st Status) {
	g := st.Generation
	if g.Version == "" {
		p("no policy is serving yet\n")
	} else {
		p("serving generation %s, loaded %s\n", clean(g.Version), g.LoadedAt.UTC().Format(time.RFC3339))
	}
	if g.RestoredFrom != "" {
		p("  restored from %s: the policy directory was refused at startup\n", clean(g.RestoredFrom))
	}
	if g.LastError != "" {
		p("  last reload refused: %s\n", clean(g.LastError))
	}
	for _, a := range st.Generations {
		p("  generation %s applied on %d of %d proxies\n", clean(a.Version), a.Applied, a.Proxies)
	}
}

func writeProxies(p printer, proxies []proxyRow) {
	p("\nPROXIES (%d)\n", len(proxies))
	if len(proxies) == 0 {
		p("no proxy is connected\n")
		return
	}
	p("NODE ID\tGROUP\tGENERATION\tLAST NACK\n")
	for _, r := range proxies {
		gen := r.Generation
		if gen == "" {
			gen = "applying"
			if len(r.Rejecting) > 0 {
				gen = "rejecting " + strings.Join(r.Rejecting, ",")
			}
		}
		nack := "-"
		if n := r.LastNACK; n != nil {
			nack = fmt.Sprintf("%s %s at %s (%dx): %s", typeName(n.TypeURL), n.Version, n.At.UTC().Format(time.RFC3339), max(n.Count, 1), n.Error)
		}
		p("%s\t%s\t%s\t%s\n", clean(r.NodeID), clean(r.Group), clean(gen), clean(nack))
	}
}

func writeRollout(p printer, r *Rollout) {
	p("\nROLLOUT\n")
	if r == nil {
		p("no staged rollout configured\n")
		return
	}
	p("state %s, generation %s (previous %s) since %s\n", clean(r.State), clean(r.Generation), clean(r.Previous), clean(r.Since))
	if r.Reason != "" {
		p("reason: %s\n", clean(r.Reason))
	}
	if len(r.Stages) > 0 {
		p("STAGE\tGROUPS\tPERCENT\tHOLD\tACKED\tSTATE\n")
	}
	for _, s := range r.Stages {
		p("%s\t%s\t%g\t%s\t%d of %d\t%s\n", clean(s.Name), clean(strings.Join(s.Groups, ",")), s.Percent, clean(string(s.Hold)), s.Acked, len(s.Proxies), clean(s.State))
	}
	for _, g := range r.Generations {
		p("generation %s applied on %d of %d proxies\n", clean(g.Version), g.Applied, g.Proxies)
	}
	if len(r.History) > 0 {
		p("AT\tGENERATION\tEVENT\tSTAGE\tREASON\n")
	}
	for _, h := range r.History {
		p("%s\t%s\t%s\t%s\t%s\n", clean(h.At), clean(h.Generation), clean(h.Event), clean(h.Stage), clean(h.Reason))
	}
}

// clean makes a value safe to print on a terminal: node ids and NACK
// errors come from outside, and a control character in them (an escape
// sequence, a tab that breaks the table) is shown as '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
