package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

const checkUsage = `Usage: tollgate check --policy DIR [--listener NAME] [-H 'Name: value' ...] [--client-ip ADDR] [--json] METHOD URL_OR_PATH
       tollgate check --policy DIR [--listener NAME] [--client-ip ADDR] [--json] --raw FILE

Says which route of the policy would handle a request, and why, without
Envoy: the route and where it is written, its services, timeout, retries,
authentication, rate limits, request limits (405, 413, 415) and client
address lists (403 for the --client-ip given, as the listener resolves it). The host comes from the URL or a Host header;
the listener from --listener, else the URL's port, else the only one.
The request is read as Envoy reads its bytes (--raw gives them exactly, - for
stdin): a request Envoy refuses itself (a fragment, an underscore in a header
name, HTTP/1.0, a lower-case method, a non-ASCII target, headers over 60 KiB)
is reported as "refused by Envoy (status, reason)".
Exits 0 when a route matches, 1 when none does (Envoy answers 404, or refuses
the request), 2 on a usage or policy error.
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
	clientIP := fs.String("client-ip", "", "the client's address as the listener resolves it, for client_ips")
	rawFile := fs.String("raw", "", "read the request's exact HTTP/1.1 bytes from this file (- for stdin) instead of METHOD URL_OR_PATH")
	var headers headerFlags
	fs.Var(&headers, "H", "a request header 'Name: value' (repeatable)")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" || (len(positional) != 2 && *rawFile == "") || (*rawFile != "" && len(positional) != 0) {
		return usagef("want --policy DIR, and a METHOD and a URL or path, or --raw FILE")
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
	var raw []byte
	if *rawFile != "" {
		if raw, err = readRaw(*rawFile); err != nil {
			return usageError{err}
		}
		positional = append([]string{"", ""}, positional...)
	}
	req, err := checkRequest(p, *listener, positional[0], positional[1], headers, raw)
	var refused *policy.Refusal
	if err != nil && !errors.As(err, &refused) {
		return usageError{err}
	}
	res := explain(p, req, refused)
	if err := checkClientIP(p, req, res, *clientIP); err != nil {
		return usageError{err}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		res.print(stdout)
	}
	if res.Route == nil || res.Status >= 400 {
		return exitStatus(1)
	}
	return nil
}

// checkClientIP describes the route's request limits and address lists
// and applies --client-ip to them.
func checkClientIP(p *policy.Policy, req policy.Request, res *checkResult, clientIP string) error {
	if res.Route == nil {
		return nil
	}
	l, _ := pickListener(p, req.Listener, "")
	r := p.Decide(req).Route
	res.Route.Inputs = describeInputs(p, l, r)
	if clientIP == "" {
		return nil
	}
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return fmt.Errorf("--client-ip: %q is not an IP address", clientIP)
	}
	refuseAddress(res, l, r, addr)
	return nil
}

// checkRequest builds the request to match from the command line: the
// HTTP/1.1 request curl would send (the URL's host as Host unless -H
// gives one), read back as Envoy reads it, so that check says when Envoy
// refuses it. raw, when set, is the request's exact bytes instead.
func checkRequest(p *policy.Policy, listener, method, target string, headers headerFlags, raw []byte) (policy.Request, error) {
	urlPort := ""
	if raw == nil {
		var err error
		if raw, urlPort, err = requestBytes(method, target, headers); err != nil {
			return policy.Request{}, err
		}
	}
	l, err := pickListener(p, listener, urlPort)
	if err != nil {
		return policy.Request{}, err
	}
	req, err := policy.ParseRequestOn(raw, l)
	req.Listener = l.Name
	return req, err
}

// requestBytes writes the request line and headers of METHOD URL_OR_PATH
// -H ..., and the URL's port, which may name the listener.
func requestBytes(method, target string, headers headerFlags) ([]byte, string, error) {
	path, host, urlPort := target, []string{""}, ""
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
		rest := target[strings.Index(target, "//")+2:]
		authority, p, _ := strings.Cut(rest, "/")
		host, path = []string{authority}, "/"+p
		if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
			urlPort = authority[i+1:]
		}
	case !strings.HasPrefix(target, "/"):
		return nil, "", fmt.Errorf("%q is neither a URL (http://host/path) nor a path starting with /", target)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, path)
	var rest strings.Builder
	var given []string
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "host") {
			given = append(given, value)
			continue
		}
		fmt.Fprintf(&rest, "%s: %s\r\n", name, value)
	}
	if given != nil {
		host = given
	}
	for _, h := range host {
		fmt.Fprintf(&b, "Host: %s\r\n", h)
	}
	b.WriteString(rest.String() + "\r\n")
	return []byte(b.String()), urlPort, nil
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

// readRaw reads a raw request from a file, or stdin for "-".
func readRaw(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}
