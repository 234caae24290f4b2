// Package nodetest runs a real Kubernetes node for tests: the control plane of
// infra/kubetest plus a real kubelet, containerd and runc, the CNI bridge plugins,
// kube-proxy and CoreDNS, so that pods run real containers from images built here, probes
// execute, volumes are mounted with their securityContext, Service names resolve and
// ClusterIP Services route.
//
// Network rule of the machines this runs on: test traffic goes only to loopback or into
// network namespaces the test run creates. So the whole test binary re-executes itself
// (Main) inside new network, mount and PID namespaces: the control plane, the node, its
// pods and every client of theirs live there, no pod address is reachable from or routed
// through the host's interfaces, and nothing outlives the run: when the test binary dies,
// however it dies, the kernel kills every process of the PID namespace and drops its
// mounts. Only empty cgroup directories can be left behind, which the next run removes,
// and the run's directory (kubetest-* in $TMPDIR), kept with its logs as a failed run's
// is, until a start a day later removes it. TestKilledRunLeavesNothing checks it.
//
// The software comes from Debian (containerd, runc, containernetworking-plugins,
// iptables, conntrack: .ci/install-packages) and from the Go module proxy (kubelet,
// kube-proxy and CoreDNS, built by `make kube-bins` with the control plane). Without it,
// or without root, the tests skip saying what is missing, unless NODETEST_REQUIRE=1 (CI)
// makes that a failure.
package nodetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// Addresses inside the sandbox's network namespace. None of them exists outside it.
const (
	// NodeIP is the node's InternalIP: the kubelet serves there and CoreDNS answers there
	// (it is the pods' nameserver).
	NodeIP = "10.200.0.2"
	// PodCIDR is the CNI bridge's range.
	PodCIDR = "10.88.0.0/16"
	// NodeName is the node the kubelet registers.
	NodeName = "nodetest-0"
)

// hostTools are what the node needs from the machine's own packages.
var hostTools = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "iptables-restore", "conntrack", "unshare", "ip", "mount"}

// cniPlugins are the plugins the CNI configuration uses, from containernetworking-plugins.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// CNIBinDir is where Debian's containernetworking-plugins installs the plugins.
const CNIBinDir = "/usr/lib/cni"

// nodeBinaries are built by infra/kubetest/tools/build.sh beside the control plane's.
var nodeBinaries = []string{"kubelet", "kube-proxy", "coredns"}

// unavailable is why this machine cannot run the node, found once by Main.
var unavailable error

// prerequisites says what is missing to run a node here, with the command that adds it.
func prerequisites() error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "root (namespaces, mounts, cgroups and iptables need it)")
	}
	var apt []string
	for _, tool := range hostTools {
		if _, err := exec.LookPath(tool); err != nil {
			apt = append(apt, tool)
		}
	}
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			apt = append(apt, "CNI plugin "+p)
		}
	}
	if len(apt) > 0 {
		problems = append(problems, fmt.Sprintf("%s (apt-get install containerd runc containernetworking-plugins iptables conntrack util-linux iproute2, or bash .ci/install-packages)", strings.Join(apt, ", ")))
	}
	var built []string
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(kubetest.BinDir(), b)); err != nil {
			built = append(built, b)
		}
	}
	if len(built) > 0 {
		problems = append(problems, fmt.Sprintf("%s in %s (make kube-bins)", strings.Join(built, ", "), kubetest.BinDir()))
	}
	if len(problems) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(problems, "; "))
	}
	return nil
}

// skip skips t, or fails it under NODETEST_REQUIRE=1, when the node cannot run here.
func skip(t testing.TB) {
	t.Helper()
	if unavailable == nil {
		return
	}
	msg := fmt.Sprintf("real-node tier disabled: %v", unavailable)
	if os.Getenv("NODETEST_REQUIRE") == "1" {
		t.Fatal(msg + " (NODETEST_REQUIRE=1)")
	}
	t.Skip(msg)
}

// shared is the node of one test binary.
var shared kubetest.Fixture[*Node]

// Main runs the package's tests inside the sandbox (see the package comment) and stops
// the shared node at the end. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(nodetest.Main(m)) }
func Main(m *testing.M) int {
	if !inSandbox() {
		if unavailable = prerequisites(); unavailable != nil {
			return m.Run() // every test that asks for the node skips, saying why
		}
		code, err := runInSandbox()
		if err != nil {
			fmt.Fprintln(os.Stderr, "nodetest:", err)
			return 1
		}
		return code
	}
	if err := enterSandbox(); err != nil {
		unavailable = err
		fmt.Fprintln(os.Stderr, "nodetest: setting up the sandbox:", err)
		return m.Run()
	}
	return shared.Run(m, "nodetest", func(n *Node, failed bool) error {
		if failed {
			defer fmt.Fprint(os.Stderr, "nodetest: ", n.Cluster.LogReport())
		}
		return n.stop(failed)
	})
}

// Shared returns the package's node, starting it on first use. Tests sharing it work in
// namespaces of their own. A failed start fails every test that asks, without retrying.
func Shared(t testing.TB) *Node {
	t.Helper()
	skip(t)
	return shared.Get(t, "nodetest.Main(m)", func() (*Node, error) {
		n, err := start(t)
		if err == nil {
			t.Logf("node %s started; its logs are in %s", NodeName, n.Cluster.Dir)
		}
		return n, err
	})
}

// errNotReady is a check's "not yet" without a more specific reason.
var errNotReady = errors.New("not ready yet")
