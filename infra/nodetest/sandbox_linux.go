package nodetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// sandboxEnv marks the test binary that runs inside the sandbox.
const sandboxEnv = "NODETEST_SANDBOX"

func inSandbox() bool { return os.Getenv(sandboxEnv) == "1" }

// runInSandbox runs this test binary again, with the same arguments, as PID 1 of new
// PID, mount and network namespaces, and returns its exit code. --kill-child and the
// parent-death signal make the sandbox die with this process: a killed or timed-out run
// leaves no kubelet, container or mount behind.
func runInSandbox() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := append([]string{"--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), sandboxEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("running the tests in a sandbox (unshare): %w", err)
	}
	return 0, nil
}

// privateDirs are paths that containerd, the CNI plugins and the kubelet use whatever
// their configuration says. Each gets an empty tmpfs in the sandbox's mount namespace, so
// the machine's own (if it runs containers itself) are neither seen nor touched.
var privateDirs = []string{"/run/netns", "/var/lib/cni", "/var/log/pods", "/var/log/containers", "/run/containerd", "/var/lib/kubelet", shieldDir}

// shieldDir holds the files shieldKernelTunables mounts.
const shieldDir = "/run/nodetest-sysctl"

// enterSandbox sets up the network namespace: loopback up with the node's address,
// forwarding and bridge netfilter on (kube-proxy's rules must see pod traffic that
// crosses the bridge), and the private directories.
func enterSandbox() error {
	for _, d := range privateDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mounting a tmpfs on %s: %w", d, err)
		}
	}
	if err := shieldKernelTunables(); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// On loopback: this kernel has no dummy interfaces, and a local address is
		// reachable from the pods through their gateway all the same.
		{"addr", "add", NodeIP + "/32", "dev", "lo"},
		// The namespace has no default route, so a connection to a ClusterIP would fail
		// before kube-proxy's rules rewrite it to a pod's address: a route for the
		// Service range, which only those rules ever use.
		{"route", "add", kubetest.ServiceCIDR, "dev", "lo", "src", NodeIP},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for key, value := range map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for line := range strings.Lines(string(b)) {
		// id parent major:minor root mount-point ...; the mount point escapes spaces as \040.
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := strings.ReplaceAll(f[4], `\040`, " ")
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// kernelTunables are the machine-wide settings the kubelet sets to the values it wants at
// start (no namespace holds them): it would make the test machine panic on an oops and
// overcommit memory.
var kernelTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// shieldKernelTunables covers each of kernelTunables, in the sandbox's mount namespace
// only, with a file that already holds the kubelet's value, so the kubelet finds nothing
// to change and the machine's own settings stay as they are.
func shieldKernelTunables() error {
	for key, value := range kernelTunables {
		file := filepath.Join(shieldDir, strings.ReplaceAll(key, "/", "."))
		if err := os.WriteFile(file, []byte(value+"\n"), 0o644); err != nil {
			return err
		}
		target := filepath.Join("/proc/sys", key)
		if err := syscall.Mount(file, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("covering %s for the kubelet: %w", target, err)
		}
	}
	return nil
}
