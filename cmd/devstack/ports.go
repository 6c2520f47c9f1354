package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/watch"
	"github.com/tollgate/tollgate/policy"
)

// The example policy has its ports inside (listener 8080, services on
// 9001-9004). When devstack runs things elsewhere (`make run
// GATEWAY_PORT=8081`), it serves a copy of the policy with those values
// moved, value by value in place, so every other line and column stay as
// written. The copy follows every edit of the original: edit the original,
// never the copy. Subdirectories and other files (the keys file) are
// linked, not copied, so `tollgate keys` on the original works too.

// edit replaces one value of a policy file.
type edit struct {
	pos      policy.Pos
	old, new string
}

// portEdits lists what to change in p so that it listens on the gateway
// address's port and sends each service devstack runs to the demo
// instances it runs: a service whose endpoints are not those instances
// and has as many gets them, in order. A policy's only listener moves to
// the gateway's port.
func portEdits(p *policy.Policy, gateway string, services []service) ([]edit, error) {
	var edits []edit
	_, portText, err := net.SplitHostPort(gateway)
	if err != nil {
		return nil, fmt.Errorf("--gateway: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--gateway: port %q", portText)
	}
	// With several listeners, which one is the gateway is not ours to
	// guess: waitGateway warns when nothing answers.
	if len(p.Listeners) == 1 && p.Listeners[0].Port != port {
		l := p.Listeners[0]
		edits = append(edits, edit{l.At("port"), strconv.Itoa(l.Port), portText})
	}
	for _, g := range groupServices(services) {
		s := p.Services[g.name]
		if s == nil || len(s.Endpoints) != len(g.addrs) || sameEndpoints(s.Endpoints, g.addrs) {
			continue
		}
		for i, e := range s.Endpoints {
			edits = append(edits, edit{e.At("address"), e.Address, g.addrs[i]})
		}
	}
	return edits, nil
}

func sameEndpoints(endpoints []*policy.Endpoint, addrs []string) bool {
	for i, e := range endpoints {
		if e.Address != addrs[i] {
			return false
		}
	}
	return true
}

// applyEdits returns data, a file's content, with the edits made; each
// edit must find its old value where the policy said it was.
func applyEdits(data []byte, edits []edit) ([]byte, error) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	// Right to left within a line, so earlier columns stay valid.
	sort.Slice(edits, func(i, j int) bool {
		a, b := edits[i].pos, edits[j].pos
		return a.Line < b.Line || (a.Line == b.Line && a.Col > b.Col)
	})
	for _, e := range edits {
		if e.pos.Line < 1 || e.pos.Line > len(lines) || e.pos.Col < 1 {
			return nil, fmt.Errorf("%s: no such position", e.pos)
		}
		line := lines[e.pos.Line-1]
		at := e.pos.Col - 1
		if at < len(line) && (line[at] == '"' || line[at] == '\'') {
			at++
		}
		if !bytes.HasPrefix(line[min(at, len(line)):], []byte(e.old)) {
			return nil, fmt.Errorf("%s: expected %q there", e.pos, e.old)
		}
		lines[e.pos.Line-1] = slices.Concat(line[:at], []byte(e.new), line[at+len(e.old):])
	}
	return bytes.Join(lines, nil), nil
}

// policyCopy is a copy of the policy directory src in dir, with its ports
// moved to where devstack runs things.
type policyCopy struct {
	src, dir string
	gateway  string
	services []service
	// linked fingerprints the linked files; see touchOnLinkedChange.
	linked string
}

// servedPolicy returns the directory tollgate should serve: the policy
// itself when its ports are devstack's, else a copy kept up to date until
// ctx ends. cleanup removes the copy.
func servedPolicy(ctx context.Context, o options) (dir string, cleanup func(), err error) {
	noop := func() {}
	if p, err := policy.Load(o.policy); err == nil {
		edits, err := portEdits(p, o.gatewayAddr, o.services)
		if err != nil || len(edits) == 0 {
			return o.policy, noop, err
		}
	} else if defaultPorts(o) {
		// Left for tollgate serve to report, positioned in the original.
		return o.policy, noop, nil
	}
	// Other ports and a policy that does not load yet: the copy starts
	// verbatim and moves the ports once the policy is fixed.
	tmp, err := os.MkdirTemp("", "devstack-policy-")
	if err != nil {
		return "", noop, err
	}
	c := &policyCopy{src: o.policy, dir: tmp, gateway: o.gatewayAddr, services: o.services}
	if err := c.render(); err != nil {
		os.RemoveAll(tmp)
		return "", noop, err
	}
	log := slog.New(slog.NewTextHandler(prefixed("devstack"), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := watch.Dirs(ctx, c.src, nil, 200*time.Millisecond, 10*time.Second, log, func() {
			if err := c.render(); err != nil {
				log.Warn("copying the policy", "error", err)
			}
		})
		if err != nil {
			log.Warn("watching the policy", "error", err)
		}
	}()
	return tmp, func() { cancel(); <-done; os.RemoveAll(tmp) }, nil
}

// defaultPorts reports whether o runs the gateway and the demo services
// where devstack does by default, which is where the example policy has
// them.
func defaultPorts(o options) bool {
	def, _ := parseFlags(nil)
	return o.gatewayAddr == def.gatewayAddr && slices.Equal(o.services, def.services)
}

// render brings the copy up to date with src: policy files rewritten
// (verbatim while src does not load, so tollgate reports its errors),
// everything else linked, files gone from src removed. Unchanged files are
// not rewritten, so tollgate sees no change.
func (c *policyCopy) render() error {
	src, err := filepath.Abs(c.src)
	if err != nil {
		return err
	}
	byFile := map[string][]edit{}
	if p, err := policy.Load(src); err == nil {
		edits, err := portEdits(p, c.gateway, c.services)
		if err != nil {
			return err
		}
		for _, e := range edits {
			byFile[filepath.Base(e.pos.File)] = append(byFile[filepath.Base(e.pos.File)], e)
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, e := range entries {
		keep[e.Name()] = true
		if err := c.renderEntry(src, e, byFile[e.Name()]); err != nil {
			return err
		}
	}
	if err := c.removeAllBut(keep); err != nil {
		return err
	}
	return c.touchOnLinkedChange(src)
}

// touchOnLinkedChange writes a hidden file in the copy when a linked file
// changed (a key added to keys/keys.yaml): a change behind a link makes no
// event in the copy, and tollgate reloads on any event there.
func (c *policyCopy) touchOnLinkedChange(src string) error {
	var b strings.Builder
	for _, dir := range append([]string{src}, subdirs(src)...) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && !policy.IsPolicyFile(e.Name()) {
				fmt.Fprintf(&b, "%s/%s %d %d\n", dir, e.Name(), info.Size(), info.ModTime().UnixNano())
			}
		}
	}
	if b.String() == c.linked {
		return nil
	}
	c.linked = b.String()
	return os.WriteFile(filepath.Join(c.dir, ".devstack-linked-changed"), []byte(time.Now().String()), 0o644)
}

func subdirs(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func (c *policyCopy) renderEntry(src string, e os.DirEntry, edits []edit) error {
	from, to := filepath.Join(src, e.Name()), filepath.Join(c.dir, e.Name())
	if !e.Type().IsRegular() || !policy.IsPolicyFile(e.Name()) {
		if target, err := os.Readlink(to); err == nil && target == from {
			return nil
		}
		os.RemoveAll(to)
		return os.Symlink(from, to)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if data, err = applyEdits(data, edits); err != nil {
		return err
	}
	if old, err := os.ReadFile(to); err == nil && bytes.Equal(old, data) {
		return nil
	}
	// Write and rename, so tollgate never reads half a file.
	tmp := filepath.Join(c.dir, ".tmp-"+e.Name())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

func (c *policyCopy) removeAllBut(keep map[string]bool) error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(c.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
