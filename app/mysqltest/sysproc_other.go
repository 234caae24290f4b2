//go:build !linux

package mysqltest

import "syscall"

// SysProcAttr puts a server in its own process group. Outside Linux there is no
// parent-death signal: a test binary killed before its clean-ups leaves the server running.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
