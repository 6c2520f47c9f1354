//go:build unix && !linux

package envoy

import "syscall"

// sysProcAttr puts Envoy in its own process group, so Stop can signal a
// wrapper and the real Envoy together and a terminal's Ctrl-C reaches the
// caller first, which then stops Envoy in order.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
