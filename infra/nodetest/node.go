package nodetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// startTimeout bounds the node's start-up after the control plane's: building and
// importing the images is most of it.
const startTimeout = 5 * time.Minute

// Node is a running node and its control plane.
type Node struct {
	// Cluster is the control plane; its Dir also holds the node's configuration, state,
	// volumes and logs.
	Cluster *kubetest.Cluster
	// cgroupRoot is the kubelet's cgroup parent, under every mounted controller.
	cgroupRoot string
	// socket is containerd's gRPC socket.
	socket     string
	containerd *kubetest.Process
	kubelet    *kubetest.Process
}

func (n *Node) path(elem ...string) string {
	return filepath.Join(append([]string{n.Cluster.Dir}, elem...)...)
}

// start brings up the control plane, then containerd, the kubelet, kube-proxy and
// CoreDNS, each once the previous one is usable, and loads the images.
func start(t testing.TB) (n *Node, err error) {
	removeStaleCgroups()
	cgroupRoot, err := claimCgroupRoot()
	if err != nil {
		return nil, err
	}
	cp, err := kubetest.StartControlPlane()
	if err != nil {
		return nil, err
	}
	n = &Node{Cluster: cp, cgroupRoot: cgroupRoot}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("nodetest: starting the node (logs kept in %s): %w", n.Cluster.Dir, err), n.stop(true))
			n = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := n.startContainerd(ctx); err != nil {
		return n, err
	}
	if err := n.loadImages(ctx, t); err != nil {
		return n, err
	}
	if err := n.startKubelet(ctx); err != nil {
		return n, err
	}
	if err := n.startKubeProxy(); err != nil {
		return n, err
	}
	if err := n.startCoreDNS(ctx); err != nil {
		return n, err
	}
	return n, n.startVolumes()
}

// stop stops everything in reverse order of start, kills the containers (they outlive
// containerd, as on a real node), then removes the mounts the kubelet and containerd left
// under the directory (they would keep it from being removed), the node's
// cgroups, and the directory unless keep.
func (n *Node) stop(keep bool) error {
	errs := []error{n.Cluster.Stop(true), killContainers(n.cgroupRoot), unmountUnder(n.Cluster.Dir), releaseCgroupRoot(n.cgroupRoot)}
	if !keep {
		errs = append(errs, os.RemoveAll(n.Cluster.Dir))
	}
	return errors.Join(errs...)
}

// containerdConfig is containerd 1.6's configuration: state of its own, runc through
// the v2 shim with cgroupfs (the kubelet's driver here), the CNI bridge, and a sandbox
// image built here since none can be pulled. These machines withhold CAP_SYS_RESOURCE
// even from root, so no process may lower its OOM score: restrict_oom_score_adj clamps
// the negative scores the kubelet asks for (the pause container's -998), as containerd
// does when it runs rootless; without it runc's init fails on every pod.
const containerdConfig = `version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`

// cniConfig puts every pod on one bridge in the sandbox's network namespace; the node's
// namespace is the pods' gateway, and nothing routes further.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "nodetest",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

func (n *Node) startContainerd(ctx context.Context) error {
	n.socket = n.path("containerd", "containerd.sock")
	netd := n.path("cni", "net.d")
	for _, d := range []string{filepath.Dir(n.socket), netd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(netd, "10-nodetest.conflist"), fmt.Appendf(nil, cniConfig, PodCIDR, n.path("cni", "ipam")), 0o644); err != nil {
		return err
	}
	config := n.path("containerd", "config.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, containerdConfig,
		n.path("containerd", "root"), n.path("containerd", "state"), n.socket, PauseImage, CNIBinDir, netd), 0o644); err != nil {
		return err
	}
	return n.runContainerd(ctx)
}

// runContainerd starts containerd on the configuration startContainerd wrote and waits
// until it serves.
func (n *Node) runContainerd(ctx context.Context) error {
	bin, _ := exec.LookPath("containerd")
	p, err := n.Cluster.Start("containerd", bin, "--config", n.path("containerd", "config.toml"))
	if err != nil {
		return err
	}
	n.containerd = p
	return n.Cluster.WaitFor(ctx, "containerd serving on "+n.socket, func(ctx context.Context) error {
		_, err := n.ctr(ctx, "version")
		return err
	})
}

// ctr runs containerd's CLI against this node's containerd, in the kubelet's namespace.
func (n *Node) ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// kubeletConfig is the kubelet's configuration. Authentication is anonymous and
// authorization AlwaysAllow: only the API server and the tests, inside the sandbox, reach
// it. Eviction thresholds are low: the machine's disk and memory are shared with the
// build, and an eviction would fail a scenario for a reason that is not the stack's.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %q
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: %q
containerRuntimeEndpoint: %q
clusterDNS: [%q]
clusterDomain: cluster.local
resolvConf: %q
failSwapOn: false
readOnlyPort: 0
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", nodefs.inodesFree: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`

func (n *Node) startKubelet(ctx context.Context) error {
	if err := createCgroups(n.cgroupRoot); err != nil {
		return err
	}
	// The pods' resolv.conf adds the node's search domains and options; the node has none,
	// so nothing of the machine's own DNS set-up reaches a pod.
	resolv := n.path("kubelet-resolv.conf")
	if err := os.WriteFile(resolv, nil, 0o644); err != nil {
		return err
	}
	config := n.path("kubelet.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, kubeletConfig, NodeIP, n.cgroupRoot, "unix://"+n.socket, NodeIP, resolv), 0o644); err != nil {
		return err
	}
	return n.runKubelet(ctx, config)
}

// runKubelet starts the kubelet and waits for its Node to be Ready.
func (n *Node) runKubelet(ctx context.Context, config string) error {
	p, err := n.Cluster.Start("kubelet", filepath.Join(kubetest.BinDir(), "kubelet"),
		"--config="+config,
		"--kubeconfig="+n.Cluster.Kubeconfig,
		"--root-dir="+n.path("kubelet"),
		"--hostname-override="+NodeName,
		"--node-ip="+NodeIP,
		"--node-labels=topology.kubernetes.io/zone=nodetest-a,topology.kubernetes.io/region=nodetest",
		"--v=1",
	)
	if err != nil {
		return err
	}
	n.kubelet = p
	return n.Cluster.WaitFor(ctx, "Node "+NodeName+" Ready (kubelet, containerd, CNI)", n.ready)
}

// ready says why the Node is not Ready, if it is not.
func (n *Node) ready(ctx context.Context) error {
	node, err := n.Cluster.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("%s: %s", c.Reason, c.Message)
		}
	}
	return errNotReady
}

// kubeProxyConfig routes ClusterIP Services with iptables, in the sandbox's namespace.
// conntrack's table size is the machine's (a global setting no namespace may change).
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
clientConnection: {kubeconfig: %q}
conntrack: {maxPerCore: 0}
healthzBindAddress: "127.0.0.1:10256"
metricsBindAddress: "127.0.0.1:10249"
`

func (n *Node) startKubeProxy() error {
	config := n.path("kube-proxy.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, kubeProxyConfig, PodCIDR, NodeName, n.Cluster.Kubeconfig), 0o644); err != nil {
		return err
	}
	_, err := n.Cluster.Start("kube-proxy", filepath.Join(kubetest.BinDir(), "kube-proxy"), "--config="+config, "--v=1")
	return err
}

// corefile serves the cluster domain from the API (the kubernetes plugin) on the node's
// address, which is every pod's nameserver. No forward plugin: a name outside the cluster
// gets SERVFAIL instead of a query leaving the sandbox.
const corefile = `.:53 {
    bind %s
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`

// startCoreDNS runs CoreDNS on the node, as NodeLocal DNSCache does, rather than as a
// pod behind a Service: the pods' nameserver is then the node itself, and the tier needs
// no CoreDNS image. It waits until the kubernetes Service's name resolves.
func (n *Node) startCoreDNS(ctx context.Context) error {
	conf := n.path("Corefile")
	if err := os.WriteFile(conf, fmt.Appendf(nil, corefile, NodeIP, n.Cluster.Kubeconfig), 0o644); err != nil {
		return err
	}
	if _, err := n.Cluster.Start("coredns", filepath.Join(kubetest.BinDir(), "coredns"), "-conf", conf); err != nil {
		return err
	}
	const name = "kubernetes.default.svc.cluster.local"
	return n.Cluster.WaitFor(ctx, "CoreDNS answering "+name+" on "+NodeIP, func(ctx context.Context) error {
		_, err := n.Resolver().LookupHost(ctx, name)
		return err
	})
}

// Resolver asks the cluster's DNS, as a pod does.
func (n *Node) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(NodeIP, "53"))
	}}
}
