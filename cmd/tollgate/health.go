package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const healthUsage = `Usage: tollgate health [--timeout 5s] URL [URL...]

Fetches each URL (such as http://127.0.0.1:18001/readyz) and exits 0 when
every one answers 2xx, 1 otherwise. It is the health check of the container
image, which has no shell or curl.
`

// health is a container health check: GET each URL, exit 0 when all
// answer 2xx. Only http(s) URLs are taken, so that a typo fails as a
// usage error (exit 2) instead of a forever-unhealthy container.
func health(args []string, stdout io.Writer) error {
	urls, timeout, err := parseHealth(args)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: timeout}
	for _, u := range urls {
		if err := checkHealth(client, u, stdout); err != nil {
			return err
		}
	}
	return nil
}

// parseHealth reads health's flags and URLs.
func parseHealth(args []string) ([]*url.URL, time.Duration, error) {
	var timeout time.Duration
	fs := newFlagSet("health", healthUsage)
	durationVar(fs, &timeout, "timeout", 5*time.Second, "how long to wait for each answer")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return nil, 0, err
	}
	if len(positional) == 0 {
		return nil, 0, usagef("want a URL")
	}
	var urls []*url.URL
	for _, arg := range positional {
		u, err := url.Parse(arg)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, 0, usagef("want an http:// or https:// URL, got %q", arg)
		}
		urls = append(urls, u)
	}
	return urls, timeout, nil
}

// checkHealth fetches u and fails unless it answers 2xx.
func checkHealth(client *http.Client, u *url.URL, stdout io.Writer) error {
	resp, err := client.Get(u.String()) //nolint:gosec // G704: the URL is the operator's own argument
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
