package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const healthUsage = `Usage: tollgate health [--timeout 5s] URL

Fetches URL (such as http://127.0.0.1:18001/readyz) and exits 0 on a 2xx
answer, 1 otherwise. It is the health check of the container image, which
has no shell or curl.
`

// health is a container health check: GET url, exit 0 on 2xx. Only
// http(s) URLs are taken, so that a typo fails as a usage error (exit 2)
// instead of a forever-unhealthy container.
func health(args []string, stdout io.Writer) error {
	var timeout time.Duration
	fs := newFlagSet("health", healthUsage)
	durationVar(fs, &timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want one URL, got %d arguments", len(positional))
	}
	u, err := url.Parse(positional[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("want an http:// or https:// URL, got %q", positional[0])
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	fmt.Fprintf(stdout, "%s: %s\n", u, resp.Status)
	return nil
}
