package mysqltest

import "syscall"

// SysProcAttr puts a server in its own process group, so terminal signals to the test (or
// the load generator) go to it, and has the kernel kill the server when the process that
// started it dies without running its clean-ups: no server outlives its test run.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
