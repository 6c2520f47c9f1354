package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

const checkUsage = `Usage: tollgate check --policy DIR [--listener NAME] [-H 'Name: value' ...] [--json] METHOD URL_OR_PATH

Says which route of the policy would handle a request, and why, without
Envoy: the route and where it is written, its services, timeout, retries,
authentication and rate limits. The host comes from the URL or a Host header;
the listener from --listener, else the URL's port, else the only one.
Exits 0 when a route matches, 1 when none does (Envoy answers 404, or 400
for a path it refuses), 2 on a usage or policy error.
`

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q is not 'Name: value'", v)
	}
	*h = append(*h, v)
	return nil
}

// check is the operator's dry run of the routing decision (policy.Match).
func check(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", checkUsage)
	dir := fs.String("policy", "", "the policy directory")
	listener := fs.String("listener", "", "the listener the request arrives on")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	var headers headerFlags
	fs.Var(&headers, "H", "a request header 'Name: value' (repeatable)")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" || len(positional) != 2 {
		return usagef("want --policy DIR, a METHOD and a URL or path")
	}
	p, err := policy.Load(*dir)
	if err != nil {
		// Exit 2 for any policy that does not load, a missing one too:
		// exit 1 means "no route".
		if err = policyFailure(stderr, err, 2); !errors.As(err, new(exitStatus)) {
			err = usageError{err}
		}
		return err
	}
	req, err := checkRequest(p, *listener, positional[0], positional[1], headers)
	if err != nil {
		return usageError{err}
	}
	res := explain(p, req)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		res.print(stdout)
	}
	if res.Route == nil {
		return exitStatus(1)
	}
	return nil
}

// checkRequest builds the request to match from the command line.
func checkRequest(p *policy.Policy, listener, method, target string, headers headerFlags) (policy.Request, error) {
	req := policy.Request{Method: method, Headers: map[string][]string{}}
	urlPort := ""
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
		rest := target[strings.Index(target, "//")+2:]
		authority, path, _ := strings.Cut(rest, "/")
		req.Host, req.Path = authority, "/"+path
		if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
			urlPort = authority[i+1:]
		}
	case strings.HasPrefix(target, "/"):
		req.Path = target
	default:
		return req, fmt.Errorf("%q is neither a URL (http://host/path) nor a path starting with /", target)
	}
	// A fragment never reaches the gateway.
	req.Path, _, _ = strings.Cut(req.Path, "#")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "host") {
			req.Host = value
			continue
		}
		req.Headers[strings.ToLower(name)] = append(req.Headers[strings.ToLower(name)], value)
	}
	l, err := pickListener(p, listener, urlPort)
	if err != nil {
		return req, err
	}
	req.Listener = l.Name
	return req, nil
}

// pickListener chooses the listener a request arrives on: the one named,
// else the one on the URL's port, else the only one.
func pickListener(p *policy.Policy, name, port string) (*policy.Listener, error) {
	names := make([]string, len(p.Listeners))
	for i, l := range p.Listeners {
		names[i] = l.Name
	}
	if name != "" {
		for _, l := range p.Listeners {
			if l.Name == name {
				return l, nil
			}
		}
		return nil, fmt.Errorf("no listener %q; the policy has: %s", name, strings.Join(names, ", "))
	}
	if n, err := strconv.Atoi(port); err == nil {
		var onPort []*policy.Listener
		for _, l := range p.Listeners {
			if l.Port == n {
				onPort = append(onPort, l)
			}
		}
		if len(onPort) == 1 {
			return onPort[0], nil
		}
	}
	switch len(p.Listeners) {
	case 0:
		return nil, errors.New("the policy has no listener")
	case 1:
		return p.Listeners[0], nil
	}
	return nil, fmt.Errorf("the policy has several listeners (%s): name one with --listener", strings.Join(names, ", "))
}

// policyFailure prints a policy's errors as validate does, one
// file:line:col: field: message per line, and returns the exit status; an
// error that is not about the policy's content (a missing directory) is
// returned for exit to print.
func policyFailure(w io.Writer, err error, status exitStatus) error {
	var errs policy.Errors
	if !errors.As(err, &errs) {
		return err
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintf(w, "%d error(s); the policy is not valid\n", len(errs))
	return status
}
