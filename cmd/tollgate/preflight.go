package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/tollgate/tollgate/internal/preflight"
	"github.com/tollgate/tollgate/policy"
)

const preflightUsage = `Usage: tollgate preflight --policy DIR [--cert-days N] [--json]
       [--gateway URL] [--envoy-admin URL] [--prometheus URL] [--request PATH]
       [--load RATE --duration D]

Runs the production deployment checklist on a policy, item by item: pass,
fail or n/a, each failure with the file:line:col to change.

From the policy alone: per-IP and per-key rate limits, separate for
anonymous and authenticated callers; no tier limit above the per-key one;
circuit breakers and outlier detection written on every service; JWT keys
from JWKS URLs; API keys hashed and scoped; a timeout on every route; a
declared Redis failure mode; no route shadowed by an earlier one; no
protected service reachable through a public route; no certificate
expiring within --cert-days.

Against a running gateway: --envoy-admin (Envoy's admin, read at
/stats/prometheus) and --prometheus (any Prometheus text scrape URL, such
as Tollgate's /metrics) give measured stats: each route's timeout against
its services' p99 (it should be 2 to 3 times it) and circuit breakers
against measured error rates. --gateway sends a test request (GET
--request) that must show in the access log and the metrics, and with
--load a bounded load test (at most 60s and 10000 requests) that reports
whether the rate limiter and Redis hold.

Exits 0 when every item passes or does not apply, 1 when one fails (or the
policy does not load), 2 on a usage error.
`

// preflightFlags are the command's settings.
type preflightFlags struct {
	dir      string
	asJSON   bool
	certDays int
	live     preflight.LiveOptions
	load     string
}

func preflightCmd(args []string, stdout, stderr io.Writer) error {
	var pf preflightFlags
	fs := newFlagSet("preflight", preflightUsage)
	fs.StringVar(&pf.dir, "policy", "", "the policy directory")
	fs.BoolVar(&pf.asJSON, "json", false, "print the report as JSON")
	fs.IntVar(&pf.certDays, "cert-days", 30, "fail certificates that expire within this many days")
	fs.StringVar(&pf.live.Gateway, "gateway", "", "the gateway's `URL` (http://host:port) for the test request and the load test")
	fs.StringVar(&pf.live.EnvoyAdmin, "envoy-admin", "", "Envoy's admin `URL`, whose /stats/prometheus is read")
	fs.StringVar(&pf.live.Prometheus, "prometheus", "", "a Prometheus text-format scrape `URL` (Envoy's /stats/prometheus, Tollgate's /metrics)")
	fs.StringVar(&pf.live.Path, "request", "/", "the `path` of the test request and of the load test")
	fs.IntVar(&pf.live.MinSamples, "min-samples", preflight.DefaultMinSamples, "requests a service needs in the stats before its p99 and error rate are judged")
	fs.StringVar(&pf.load, "load", "", "run a load test at this `rate` (such as 50/s or 50) through --gateway")
	durationVar(fs, &pf.live.Duration, "duration", preflight.DefaultLoadDuration, "how long the load test runs")
	if err := noArgs(parseArgs(fs, args)); err != nil {
		return err
	}
	if err := pf.check(); err != nil {
		return err
	}
	p, err := policy.Load(pf.dir)
	if err != nil {
		return policyFailure(stderr, err, 1)
	}
	rep := preflight.Report{Policy: pf.dir}
	for _, r := range preflight.Static(p, preflight.StaticOptions{CertDays: pf.certDays}) {
		rep.Add(r)
	}
	for _, r := range preflight.Live(p, pf.live) {
		rep.Add(r)
	}
	if pf.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printPreflight(stdout, rep)
	}
	if !rep.Passed {
		return exitStatus(1)
	}
	return nil
}

// check refuses what cannot run: a missing policy, a URL that is not
// http(s), a load test without a gateway or past its bounds.
func (pf *preflightFlags) check() error {
	if pf.dir == "" {
		return usagef("want --policy DIR")
	}
	if pf.certDays < 0 || pf.live.MinSamples < 1 {
		return usagef("--cert-days must be 0 or more and --min-samples 1 or more")
	}
	for name, u := range map[string]string{"gateway": pf.live.Gateway, "envoy-admin": pf.live.EnvoyAdmin, "prometheus": pf.live.Prometheus} {
		if u == "" {
			continue
		}
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return usagef("--%s %q: want an http:// or https:// URL", name, u)
		}
	}
	if !strings.HasPrefix(pf.live.Path, "/") {
		return usagef("--request %q: want a path starting with /", pf.live.Path)
	}
	if pf.load == "" {
		return nil
	}
	if pf.live.Gateway == "" {
		return usagef("--load needs --gateway")
	}
	rate, err := preflight.ParseLoadRate(pf.load)
	if err != nil {
		return usagef("--load %q: %v", pf.load, err)
	}
	pf.live.Load = rate
	if err := preflight.CheckLoadBounds(rate, pf.live.Duration); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// printPreflight writes the report as a table, each failure's findings
// under its row.
func printPreflight(w io.Writer, rep preflight.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tSTATUS\tDETAIL")
	for _, r := range rep.Items {
		status := string(r.Status)
		if r.Status == preflight.Fail {
			status = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, status, r.Detail)
	}
	_ = tw.Flush()
	for _, r := range rep.Items {
		if len(r.Findings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s\n", r.ID, r.Title)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s: %s\n", f.At, f.Message)
		}
	}
	verdict := "preflight passed"
	if !rep.Passed {
		verdict = "preflight FAILED"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}
