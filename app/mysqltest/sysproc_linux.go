package mysqltest

import "syscall"

// sysProcAttr puts the server in its own process group, so terminal signals to the test go
// to the test, and has the kernel kill it when the test binary dies without running its
// clean-ups: no server outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
