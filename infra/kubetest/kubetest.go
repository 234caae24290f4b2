// Package kubetest runs a real Kubernetes control plane for tests: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on 127.0.0.1, plus kwok, which plays the
// kubelet of a fake Node so that Pods get scheduled, become Ready and appear in
// EndpointSlices without any container running. Admission, validation, server-side
// apply, the StatefulSet, garbage-collection and volume-binding controllers are the
// real ones.
//
// The binaries are built once by infra/kubetest/tools/build.sh (`make kube-bins`) into BinDir.
// Without them the tests skip, unless KUBETEST_REQUIRE=1 (as in CI) makes that a failure.
//
// Why not `kwokctl create cluster --runtime binary` (kwok v0.7.0, tried here on these binaries,
// issue 14): it runs offline, on 127.0.0.1 once bindAddress is set, with real controllers, and
// takes every flag start sets through componentsPatches; but it starts the components detached
// (setsid, parent PID 1), so a test binary that is killed or times out leaves the whole control
// plane running, where this package's Pdeathsig stops it. It also kills by pid file without
// being the parent, and started no faster (5.4 s to a Ready node against 4-4.7 s here).
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Version is the Kubernetes release the binaries are built from (see build.sh).
const Version = "v1.33.13"

// ServiceCIDR is the range of the Services' ClusterIPs.
const ServiceCIDR = "10.96.0.0/16"

// NodeName is the kwok-managed Node every cluster has.
const NodeName = "kwok-node-0"

// nodeMonitorGracePeriod is how long the controller-manager waits for a Node's heartbeat
// before marking it NotReady: longer than kwok's renewal interval (about 55 s).
const nodeMonitorGracePeriod = 10 * time.Minute

// startTimeout bounds the whole start-up; it normally takes a few seconds.
const startTimeout = 90 * time.Second

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// BinDir is where build.sh puts the binaries: $KUBETEST_BIN_DIR, by default
// ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-v1.33.13.
func BinDir() string {
	if d := os.Getenv("KUBETEST_BIN_DIR"); d != "" {
		return d
	}
	return CacheDir("kube-" + Version)
}

// Cluster is a running control plane.
type Cluster struct {
	// Config authenticates as a cluster administrator (group system:masters).
	Config *rest.Config
	Client kubernetes.Interface
	// Dir holds certificates, kubeconfig, etcd data and one log per component.
	Dir string
	// Kubeconfig is the path of an administrator's kubeconfig file, for clients that
	// take one (the Pulumi Kubernetes provider).
	Kubeconfig string
	procs      []*Process
}

// Start starts a control plane of its own for t and stops it when t ends. If t
// fails, the component logs are kept and their paths logged. Tests of one package
// usually share one cluster instead: see Main and Shared.
func Start(t testing.TB) *Cluster {
	t.Helper()
	skipWithoutBinaries(t)
	c, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(t.Failed()); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Log(c.LogReport())
		}
	})
	return c
}

// skipWithoutBinaries skips t, or fails it when KUBETEST_REQUIRE=1, if any binary is missing.
func skipWithoutBinaries(t testing.TB) {
	t.Helper()
	if err := binariesPresent(); err != nil {
		skipOrRequire(t, fmt.Sprintf("real-Kubernetes tier disabled: %v; build the binaries with `make kube-bins` (or infra/kubetest/tools/build.sh)", err))
	}
}

// skipOrRequire skips t for something of the tier that is not built (msg says how to build
// it), or fails it when KUBETEST_REQUIRE=1, as in CI, where nothing may be missing.
func skipOrRequire(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("KUBETEST_REQUIRE") == "1" {
		t.Fatal(msg + " (KUBETEST_REQUIRE=1)")
	}
	t.Skip(msg)
}

func binariesPresent() error {
	var missing []string
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(BinDir(), b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s missing in %s", strings.Join(missing, ", "), BinDir())
	}
	return nil
}

// start brings up the control plane and kwok's fake node.
func start() (*Cluster, error) {
	c, err := StartControlPlane()
	if err != nil {
		return nil, err
	}
	if err := c.startKwok(); err != nil {
		return nil, errors.Join(fmt.Errorf("kubetest: starting kwok (logs kept in %s): %w", c.Dir, err), c.Stop(true))
	}
	return c, nil
}

// StartControlPlane starts etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler on 127.0.0.1, each once the previous one is usable, and no node: for a
// tier that brings its own (infra/nodetest). The caller stops it with Stop. On error it
// stops whatever it started and keeps the logs.
func StartControlPlane() (c *Cluster, err error) {
	if err := removeStaleDirs(os.TempDir(), time.Now().Add(-keepFailedFor)); err != nil {
		fmt.Fprintln(os.Stderr, err) // disk space, not this run's concern
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("kubetest: starting the control plane (logs kept in %s): %w", dir, err), c.Stop(true))
			c = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	pki, err := newPKI(dir)
	if err != nil {
		return c, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return c, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiPort := strconv.Itoa(ports[2])

	if err := c.run("etcd",
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--unsafe-no-fsync", // test data: durability is not worth the disk latency
		"--log-level=warn",
	); err != nil {
		return c, err
	}

	if err := c.run("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+apiPort,
		"--cert-dir="+dir,
		"--tls-cert-file="+pki.serving.CertFile, "--tls-private-key-file="+pki.serving.KeyFile,
		"--client-ca-file="+pki.ca.CertFile,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true", // as on EKS: Pod Security admission is what restricts pods
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.saPublic,
		"--service-account-signing-key-file="+pki.saPrivate,
		// The default reconciler cannot publish 127.0.0.1 as the kubernetes Service's endpoint.
		"--endpoint-reconciler-type=none",
		// Without the front-proxy settings the controller-manager and the scheduler
		// log CA-bundle errors in a loop.
		"--requestheader-client-ca-file="+pki.frontProxyCA.CertFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+pki.frontProxyClient.CertFile,
		"--proxy-client-key-file="+pki.frontProxyClient.KeyFile,
	); err != nil {
		return c, err
	}

	c.Config = &rest.Config{
		Host: "https://127.0.0.1:" + apiPort,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pki.ca.certPEM,
			CertData: pki.admin.certPEM,
			KeyData:  pki.admin.keyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	c.Client = client
	if err := c.WaitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
		_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return c, err
	}

	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.Config, pki); err != nil {
		return c, err
	}
	c.Kubeconfig = kubeconfig
	if err := c.run("kube-controller-manager",
		"--kubeconfig="+kubeconfig,
		"--secure-port=0", // no health endpoint needed; avoids port clashes between parallel packages
		"--leader-elect=false",
		"--use-service-account-credentials",
		"--service-account-private-key-file="+pki.saPrivate,
		"--root-ca-file="+pki.ca.CertFile,
		"--cluster-signing-cert-file="+pki.ca.CertFile, "--cluster-signing-key-file="+pki.ca.KeyFile,
		// The default rate limits delay e.g. each namespace's default ServiceAccount by seconds.
		"--kube-api-qps=200", "--kube-api-burst=400",
		// Otherwise it creates /usr/libexec/kubernetes/... on the machine.
		"--flex-volume-plugin-dir="+filepath.Join(dir, "flexvolume"),
		// kwok renews its Node about every 55 s, past the default 50 s grace period: the
		// node would flap NotReady and take every pod's readiness with it.
		"--node-monitor-grace-period="+nodeMonitorGracePeriod.String(),
	); err != nil {
		return c, err
	}
	if err := c.run("kube-scheduler",
		"--kubeconfig="+kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return c, err
	}
	// The controller-manager is working once it has created the default ServiceAccount.
	if err := c.WaitFor(ctx, "ServiceAccount default/default (kube-controller-manager)", func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c, err
	}
	return c, nil
}

// startKwok starts kwok and the Node it plays.
func (c *Cluster) startKwok() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	dir := c.Dir
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	// No stages: kwok's defaults make nodes and pods Ready.
	if err := os.WriteFile(kwokConfig, []byte("apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\n"), 0o600); err != nil {
		return err
	}
	if err := c.run("kwok",
		"--kubeconfig="+c.Kubeconfig,
		"--config="+kwokConfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.244.0.1/24", // pod IPs, apart from the Service range
		"--node-ip=127.0.0.1",
	); err != nil {
		return err
	}

	if _, err := c.Client.CoreV1().Nodes().Create(ctx, fakeNode(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Node %s: %w", NodeName, err)
	}
	return c.WaitFor(ctx, "Node "+NodeName+" Ready (kwok)", func(ctx context.Context) error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready yet")
	})
}

// run starts one component from BinDir.
func (c *Cluster) run(name string, args ...string) error {
	_, err := c.Start(name, filepath.Join(BinDir(), name), args...)
	return err
}

// Start starts bin as a process of the cluster, logging to name.log in Dir: WaitFor fails
// as soon as it exits, and Stop stops it after everything started later.
func (c *Cluster) Start(name, bin string, args ...string) (*Process, error) {
	p, err := startProcess(c.Dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// WaitFor polls check until it succeeds or ctx ends, failing early if a running
// component died; the error names what it waited for and the last check's error.
func (c *Cluster) WaitFor(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, p := range c.procs {
			if err := p.Exited(); err != nil {
				return false, err
			}
		}
		last = check(ctx)
		return last == nil, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("waiting for %s: %w (last error: %v)", what, err, last)
	}
	return err
}

// Stop stops the components in reverse order of start. The directory is removed
// unless keep is set (a failed test's logs are kept for reading).
func (c *Cluster) Stop(keep bool) error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].Stop())
	}
	if !keep {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// pki is the cluster's certificates and keys.
type pki struct {
	ca, serving, admin             *keyPair
	frontProxyCA, frontProxyClient *keyPair
	saPrivate, saPublic            string
}

func newPKI(dir string) (*pki, error) {
	var p pki
	var err error
	if p.ca, err = newCA(dir, "ca"); err != nil {
		return nil, err
	}
	if p.serving, err = p.ca.serving(dir, "apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}); err != nil {
		return nil, err
	}
	// Every component acts as an administrator: what is under test is the API's
	// behaviour towards our objects, not the components' own RBAC.
	if p.admin, err = p.ca.client(dir, "admin", "kubetest-admin", "system:masters"); err != nil {
		return nil, err
	}
	if p.frontProxyCA, err = newCA(dir, "front-proxy-ca"); err != nil {
		return nil, err
	}
	if p.frontProxyClient, err = p.frontProxyCA.client(dir, "front-proxy-client", "front-proxy-client"); err != nil {
		return nil, err
	}
	p.saPrivate, p.saPublic, err = writeServiceAccountKeys(dir)
	return &p, err
}

func writeKubeconfig(path string, cfg *rest.Config, p *pki) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: p.ca.CertFile}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: p.admin.CertFile, ClientKey: p.admin.KeyFile}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	kc.CurrentContext = "kubetest"
	return clientcmd.WriteToFile(*kc, path)
}

// fakeNode is a Node kwok manages (by the annotation). It has no taint, so workloads
// need no toleration, and the labels a real Linux node has.
func fakeNode() *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
		// As a real kubelet reports it: pods that request ephemeral storage fit.
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname":        NodeName,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"topology.kubernetes.io/zone":   "kubetest-a",
				"topology.kubernetes.io/region": "kubetest",
				"type":                          "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// freePorts finds n free TCP ports on 127.0.0.1. Another process could take one
// before the component binds it; start-up then fails with a clear log, not silently.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Namespace creates a namespace with a generated name for t, with the given labels
// (e.g. Pod Security levels), waits for its default ServiceAccount (Pods cannot be
// created before it exists) and deletes the namespace when t ends.
func (c *Cluster) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Namespace deletion finishes in the background; nothing waits for it.
		err := c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	err = c.WaitFor(ctx, "ServiceAccount "+ns.Name+"/default", func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// LogReport says where the logs are kept and shows each component's last errors,
// printed when tests failed (in CI the directory is gone afterwards).
func (c *Cluster) LogReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "control-plane logs kept in %s; their last errors (some are normal, e.g. about deleted namespaces):\n", c.Dir)
	for _, p := range c.procs {
		fmt.Fprintf(&b, "==> %s <==\n%s", p.LogFile, p.recentErrors())
	}
	return b.String()
}
