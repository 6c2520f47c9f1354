package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/xds"
)

const diffUsage = `Usage: tollgate diff [flags] A [B]

Shows what changes from policy A to policy B: in Envoy terms (listeners,
route configurations, clusters, endpoints and secrets added, removed or
changed, with the fields that changed; secrets by name, never content)
and in Tollgate's own terms (routes' auth and rate limits, rate limits,
tiers, the auth section), which Envoy never sees.

A and B are each a policy directory or a git revision of the --policy
directory (HEAD~1, a tag, a commit). Without B, A is compared with the
--policy directory as it is on disk: "tollgate diff HEAD" shows the
uncommitted edits. A directory wins over a revision of the same name.

Exit status, as diff(1): 0 no change, 1 changes, 2 trouble (a policy that
does not load, a revision git does not know, a usage error).
`

// diffSide is one of the two policies diff compares.
type diffSide struct {
	label string // as given: a directory or a revision
	dir   string // the directory it was loaded from
	p     *policy.Policy
}

// diff compares two policies; see diffUsage.
func diff(args []string, stdout, stderr io.Writer) error {
	err := runDiff(args, stdout, stderr)
	var help helpRequest
	var usage usageError
	var status exitStatus
	if err == nil || errors.As(err, &help) || errors.As(err, &usage) || errors.As(err, &status) {
		return err
	}
	// Exit 1 means "changes" here, so trouble is 2, as in diff(1).
	fmt.Fprintf(stderr, "tollgate diff: %v\n", err)
	return exitStatus(2)
}

func runDiff(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("diff", diffUsage)
	var f translateFlags
	fs.StringVar(&f.group, "group", "", "compare only this node group (default: every group either policy has)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", defaultGRPCAddr, "serve's --grpc-addr: where Envoy reaches Tollgate's gRPC services")
	fs.BoolVar(&f.tls, "grpc-tls", false, "serve runs with --grpc-tls-cert: Envoy reaches Tollgate over mutual TLS")
	policyDir := fs.String("policy", ".", "the policy `directory` git revisions are read from, and B when B is not given")
	asJSON := fs.Bool("json", false, "print the changes as JSON")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) == 0 || len(positional) > 2 {
		return usagef("want A [B], got %d arguments", len(positional))
	}
	if len(positional) == 1 {
		positional = append(positional, *policyDir)
	}
	tmp, err := os.MkdirTemp("", "tollgate-diff-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var sides [2]*diffSide
	for i, arg := range positional {
		if sides[i], err = loadSide(arg, *policyDir, tmp, stderr); err != nil {
			return err
		}
	}
	report, err := comparePolicies(sides[0], sides[1], f)
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeDoc(stdout, "json", report)
	} else {
		report.writeText(stdout)
	}
	if err == nil && report.Changes > 0 {
		err = exitStatus(1)
	}
	return err
}

// loadSide loads a directory, or the policy directory at a git revision.
func loadSide(arg, policyDir, tmp string, stderr io.Writer) (*diffSide, error) {
	dir := arg
	if info, err := os.Stat(arg); err != nil || !info.IsDir() {
		if dir, err = gitPolicyDir(policyDir, arg, tmp); err != nil {
			return nil, err
		}
	}
	p, err := policy.Load(dir)
	if err != nil {
		var buf strings.Builder
		err = policyFailure(&buf, err, 2)
		msg := buf.String()
		if dir != arg {
			// Positions in the revision, not in the temporary copy.
			msg = strings.ReplaceAll(msg, dir, arg+":"+filepath.Clean(policyDir))
		}
		fmt.Fprintf(stderr, "%s:\n%s", arg, msg)
		return nil, err
	}
	return &diffSide{label: arg, dir: dir, p: p}, nil
}

// diffReport is what diff prints: --json writes it as it is.
type diffReport struct {
	From    string           `json:"from"`
	To      string           `json:"to"`
	Changes int              `json:"changes"`
	Envoy   []resourceChange `json:"envoy"`
	Policy  []policyChange   `json:"policy"`
}

// resourceChange is an Envoy resource added, removed or changed in one
// node group.
type resourceChange struct {
	Group  string        `json:"group"`
	Type   string        `json:"type"` // listener, route, cluster, endpoint, secret
	Name   string        `json:"name"`
	Change string        `json:"change"` // added, removed, changed
	Fields []fieldChange `json:"fields,omitempty"`
}

// policyChange is a route's auth or limits, a rate limit, a tier or the
// auth section added, removed or changed: what Tollgate enforces itself.
type policyChange struct {
	Kind   string        `json:"kind"` // route, rate_limit, tier, auth
	Name   string        `json:"name"`
	Change string        `json:"change"`
	Fields []fieldChange `json:"fields,omitempty"`
}

// comparePolicies translates both policies for every group and compares.
func comparePolicies(a, b *diffSide, f translateFlags) (*diffReport, error) {
	r := &diffReport{From: a.label, To: b.label, Envoy: []resourceChange{}, Policy: comparePolicyTerms(a.p, b.p)}
	groups := []string{f.group}
	if f.group == "" {
		groups = unionGroups(a.p, b.p)
	}
	for _, g := range groups {
		changes, err := compareGroup(a.p, b.p, g, f.options())
		if err != nil {
			return nil, err
		}
		r.Envoy = append(r.Envoy, changes...)
	}
	r.Changes = len(r.Envoy) + len(r.Policy)
	return r, nil
}

// unionGroups is the default group and every group a listener of either
// policy names, sorted after it.
func unionGroups(ps ...*policy.Policy) []string {
	var named []string
	for _, p := range ps {
		for _, l := range p.Listeners {
			for _, g := range l.Groups {
				if g != xds.DefaultGroup && !slices.Contains(named, g) {
					named = append(named, g)
				}
			}
		}
	}
	slices.Sort(named)
	return append([]string{xds.DefaultGroup}, named...)
}
