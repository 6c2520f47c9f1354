package main

import "syscall"

// sysProcAttr gives a child its own process group (see startChild) and has
// the kernel kill it if devstack dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
