package envoy

import "syscall"

// sysProcAttr puts Envoy in its own process group, so Stop can signal a
// wrapper and the real Envoy together and a terminal's Ctrl-C reaches the
// caller first, which then stops Envoy in order. Pdeathsig kills Envoy if
// the Go process dies without calling Stop (a test binary hitting its
// timeout, say), so no Envoy outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
