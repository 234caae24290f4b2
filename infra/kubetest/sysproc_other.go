//go:build !linux

package kubetest

import "syscall"

// sysProcAttr puts each component in its own process group. Outside Linux there is no
// parent-death signal: a test binary killed before its clean-ups leaves them running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
