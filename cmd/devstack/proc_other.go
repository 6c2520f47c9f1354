//go:build unix && !linux

package main

import "syscall"

// sysProcAttr gives a child its own process group (see startChild).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
