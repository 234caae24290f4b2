package kubetest

import "syscall"

// sysProcAttr puts each component in its own process group and has the kernel kill it
// when the test binary dies without running its clean-ups (a -timeout panic, a kill):
// no control plane outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
