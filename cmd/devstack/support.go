package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// service is one demo service instance from --services.
type service struct{ name, addr string }

// parseServices reads "name=host:port,name=host:port".
func parseServices(v string) ([]service, error) {
	var out []service
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--services: %q: want name=host:port", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--services: %q: %w", item, err)
		}
		out = append(out, service{name, addr})
	}
	return out, nil
}

// serviceGroup is every instance of one service name, served together so
// they share an attempt counter.
type serviceGroup struct {
	name  string
	addrs []string
}

// groupServices groups instances by name, in order of first appearance.
func groupServices(services []service) []serviceGroup {
	var groups []serviceGroup
	index := map[string]int{}
	for _, s := range services {
		i, ok := index[s.name]
		if !ok {
			i = len(groups)
			index[s.name] = i
			groups = append(groups, serviceGroup{name: s.name})
		}
		groups[i].addrs = append(groups[i].addrs, s.addr)
	}
	return groups
}

// dialable turns a listen address into one to connect to: a server bound
// to every interface is reached on loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// waitTCP waits until addr accepts a connection, the timeout passes, or
// exited is closed.
func waitTCP(ctx context.Context, addr string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the process exited; see its output above")
		case <-ctx.Done():
			return fmt.Errorf("nothing listening after %v", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// child is a subprocess devstack started and must stop.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // set before done is closed
}

// startChild runs name with args in its own process group, so that a
// terminal's Ctrl-C reaches devstack only and devstack decides the order
// in which things stop.
func startChild(name string, args []string, out io.Writer) (*child, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and, after timeout, SIGKILL.
func (c *child) stop(timeout time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(timeout):
	}
	c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("did not exit within %v of SIGTERM and was killed", timeout)
}

// prefixWriter writes each line it is given to os.Stdout with a prefix, so
// the output of the components can be told apart.
type prefixWriter struct {
	mu     sync.Mutex // several copiers (stdout, stderr) write concurrently
	prefix []byte
	out    io.Writer
	buf    []byte // an unfinished line
}

func prefixed(name string) io.Writer {
	return &prefixWriter{prefix: []byte(fmt.Sprintf("[%s] ", name)), out: os.Stdout}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append(append([]byte{}, p.prefix...), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
		if _, err := p.out.Write(line); err != nil {
			return len(b), err
		}
	}
}
