package enginetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/counter-mysql/counter-mysql/infra/dashboard"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/monitoring"
	"github.com/counter-mysql/counter-mysql/infra/storageclass"
)

func TestMain(m *testing.M) {
	code := kubetest.Main(m)
	Cleanup()
	os.Exit(code)
}

const (
	// storageClass is EKS mode's gp3 class (WaitForFirstConsumer), provisioned by
	// kubetest's stand-in for the EBS CSI provisioner; every stack uses it unless it
	// names immediateClass, the same class binding Immediately.
	storageClass   = "enginetest-gp3"
	immediateClass = "enginetest-immediate"
	// snapshotClass is the cluster's default VolumeSnapshotClass.
	snapshotClass = "enginetest-snapshots"
	csiDriver     = storageclass.Driver
	appImage      = "ghcr.io/counter-mysql/counter:enginetest"
	// waitTimeout bounds each wait for the controllers.
	waitTimeout = time.Minute
	claim0      = "data-mysql-0"
	pod0        = "mysql-0"
)

var (
	provisionOnce sync.Once
	provisionErr  error
)

// world is what every scenario needs: the shared control plane with the provisioner
// and the snapshotter running, a Pulumi installation, and the clients.
type world struct {
	cluster *kubetest.Cluster
	client  kubernetes.Interface
	snaps   snapshotclient.Interface
	env     *Env
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := kubetest.Shared(t)
	snaps, err := snapshotclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	provisionOnce.Do(func() {
		// Both run until the test binary exits, serving every scenario.
		ctx := context.Background()
		gp3 := storageclass.GP3(storageClass)
		for _, class := range []*storagev1.StorageClass{gp3, kubetest.ImmediateClass(gp3, immediateClass)} {
			if provisionErr = kubetest.ProvisionVolumes(ctx, c.Client, snaps, class); provisionErr != nil {
				return
			}
		}
		if provisionErr = kubetest.InstallSnapshotCRDs(ctx, c.Config); provisionErr != nil {
			return
		}
		// A cluster with the Prometheus Operator, as with kube-prometheus-stack: every
		// stack's monitoring (auto by default) creates its objects, and destroys them.
		if provisionErr = kubetest.InstallMonitoringCRDs(ctx, c.Config); provisionErr != nil {
			return
		}
		// The default class, so existing mode needs no snapshotClassName.
		_, provisionErr = snaps.SnapshotV1().VolumeSnapshotClasses().Create(ctx, &snapshotv1.VolumeSnapshotClass{
			ObjectMeta:     metav1.ObjectMeta{Name: snapshotClass, Annotations: map[string]string{kubetest.DefaultSnapshotClassAnnotation: "true"}},
			Driver:         csiDriver,
			DeletionPolicy: snapshotv1.VolumeSnapshotContentRetain,
		}, metav1.CreateOptions{})
		go kubetest.SnapshotVolumes(ctx, c.Client, snaps, 0)
	})
	if provisionErr != nil {
		t.Fatal(provisionErr)
	}
	w := &world{cluster: c, client: c.Client, snaps: snaps, env: New(t, filepath.Join("..", "..", "Pulumi.yaml"))}
	w.watchNode(t)
	return w
}

// watchNode fails t if the kwok Node turns NotReady while t runs: every readiness wait of
// the provider would then hang (see kubetest's node-monitor grace period).
func (w *world) watchNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu       sync.Mutex
		notReady []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := w.client.CoreV1().Nodes().Get(ctx, kubetest.NodeName, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
					mu.Lock()
					notReady = append(notReady, fmt.Sprintf("%s: %s %s", time.Now().Format(time.TimeOnly), c.Reason, c.Message))
					mu.Unlock()
				}
			}
			return false, nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if len(notReady) > 0 {
			t.Errorf("Node %s was not Ready during the test:\n  %s", kubetest.NodeName, strings.Join(notReady, "\n  "))
		}
	})
}

// deleteReleasedVolumes runs the CSI driver's volume deletion for namespace, deleting a
// volume delay after its release, until the returned stop is called (or t ends).
func (w *world) deleteReleasedVolumes(t *testing.T, namespace string, delay time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		kubetest.DeleteReleasedVolumes(ctx, w.client, csiDriver, delay, namespace)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// finalSnapshots are the VolumeSnapshotContents of snapshots taken in namespace.
func (w *world) finalSnapshots(t *testing.T, namespace string) []snapshotv1.VolumeSnapshotContent {
	t.Helper()
	list, err := w.snaps.SnapshotV1().VolumeSnapshotContents().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var found []snapshotv1.VolumeSnapshotContent
	for _, c := range list.Items {
		if c.Spec.VolumeSnapshotRef.Namespace == namespace {
			found = append(found, c)
		}
	}
	return found
}

// config is an existing-mode stack in a namespace of its own, plus overrides.
func (w *world) config(overrides map[string]string) map[string]string {
	c := map[string]string{
		"mode":                 "existing",
		"kubeconfig":           w.cluster.Kubeconfig,
		"storageClassName":     storageClass,
		"appImage":             appImage,
		"namespace":            "et-" + strings.ToLower(rand.Text()[:8]),
		"appReplicas":          "2",
		"mysqlStorageSize":     "1Gi",
		"volumeCleanupTimeout": "30s",
	}
	for k, v := range overrides {
		c[k] = v
	}
	return c
}

// testStack is a stack of the real program with its namespace, destroyed (with the
// volume deleter running) when t ends if a scenario left it up.
type testStack struct {
	*Stack
	w         *world
	namespace string
}

func (w *world) newStack(t *testing.T, overrides map[string]string) *testStack {
	t.Helper()
	cfg := w.config(overrides)
	name := "et" + strings.ToLower(rand.Text()[:6])
	s := &testStack{Stack: w.env.NewStack(t, name, cfg), w: w, namespace: cfg["namespace"]}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
		defer cancel()
		stop := w.deleteReleasedVolumes(t, s.namespace, 0)
		defer stop()
		if _, err := s.Destroy(ctx, optdestroy.RunProgram(true)); err != nil {
			t.Errorf("clean-up: destroy --run-program of stack %s: %v", name, err)
		}
		// Volumes kept on purpose (retainVolumes) and final snapshots, which outlive the
		// stack by design, are the test's to remove.
		pvs, err := w.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, pv := range pvs.Items {
				if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == s.namespace {
					_ = w.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
				}
			}
		}
		for _, c := range w.finalSnapshots(t, s.namespace) {
			_ = w.snaps.SnapshotV1().VolumeSnapshotContents().Delete(ctx, c.Name, metav1.DeleteOptions{})
		}
	})
	return s
}

// plainInState names each resource and field of the stack's state file, as the backend
// stores it, that holds value in plain text (secrets are stored as ciphertext). `pulumi
// stack export`, and so Export, decrypts secrets: the file itself is read.
func (s *testStack) plainInState(t *testing.T, value string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.w.env.dir, "state", ".pulumi", "stacks", "*", s.Name()+".json"))
	if len(files) != 1 {
		t.Fatalf("want one state file of stack %s, found %v", s.Name(), files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Checkpoint struct {
			Latest struct {
				Resources []struct {
					URN     string         `json:"urn"`
					Inputs  map[string]any `json:"inputs"`
					Outputs map[string]any `json:"outputs"`
				} `json:"resources"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		t.Fatal(err)
	}
	if len(state.Checkpoint.Latest.Resources) == 0 {
		t.Fatalf("no resources in the state file %s", files[0])
	}
	var where []string
	for _, r := range state.Checkpoint.Latest.Resources {
		for part, props := range map[string]map[string]any{"inputs": r.Inputs, "outputs": r.Outputs} {
			for key, v := range props {
				b, _ := json.Marshal(v)
				if strings.Contains(string(b), value) {
					where = append(where, r.URN+" "+part+"."+key)
				}
			}
		}
	}
	if len(where) == 0 && strings.Contains(string(raw), value) {
		where = append(where, files[0])
	}
	return where
}

// claimVolume waits until the stack's claim is Bound and returns it and its volume's name.
func (s *testStack) claimVolume(t *testing.T) (*corev1.PersistentVolumeClaim, string) {
	t.Helper()
	pvc := kubetest.BoundClaim(t, s.w.client, waitTimeout, s.namespace, claim0)
	return pvc, pvc.Spec.VolumeName
}

// namespaceVolumes are the PersistentVolumes whose claim was in the stack's namespace.
func (s *testStack) namespaceVolumes(t *testing.T) []corev1.PersistentVolume {
	t.Helper()
	pvs, err := s.w.client.CoreV1().PersistentVolumes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mine []corev1.PersistentVolume
	for _, pv := range pvs.Items {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == s.namespace {
			mine = append(mine, pv)
		}
	}
	return mine
}

// eventually is kubetest.Eventually within waitTimeout.
func eventually(t *testing.T, what string, check func(ctx context.Context) error) {
	t.Helper()
	kubetest.Eventually(t, waitTimeout, what, check)
}

// notFound fails t unless get reports NotFound.
func notFound(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsNotFound(err) {
		t.Errorf("%s: want NotFound, got %v", what, err)
	}
}

// mustContain fails t for every want that text lacks.
func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not say %q:\n%s", what, want, text)
		}
	}
}

// wantMonitoring fails t unless namespace has the stack's monitoring objects.
func (w *world) wantMonitoring(t *testing.T, namespace string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(w.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"podmonitors":     {monitoring.AppMonitorName, monitoring.MySQLMonitorName}, // the exporter is on by default
		"prometheusrules": {monitoring.RuleName},
	}
	for resource, names := range want {
		gvr := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: resource}
		for _, name := range names {
			if _, err := dyn.Resource(gvr).Namespace(namespace).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
				t.Errorf("%s %s: %v", resource, name, err)
			}
		}
	}
	cm, err := w.client.CoreV1().ConfigMaps(namespace).Get(t.Context(), monitoring.DashboardConfigMapName, metav1.GetOptions{})
	if err != nil || cm.Labels[dashboard.SidecarLabel] != dashboard.SidecarLabelValue {
		t.Errorf("dashboard ConfigMap %s: %v (labels %v), want it labelled for Grafana's sidecar", monitoring.DashboardConfigMapName, err, cm.GetLabels())
	}
}
