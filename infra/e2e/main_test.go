package e2e

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// waitTimeout bounds every wait for the controllers; they normally react in well under
// a second.
const waitTimeout = time.Minute

// ebsDriver is the CSI driver of the stack's StorageClass.
const ebsDriver = "ebs.csi.aws.com"

// env is the shared cluster with the clients the tests need.
type env struct {
	client kubernetes.Interface
	snaps  snapshotclient.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	// warnings are what the API server said about applied objects (deprecations,
	// Pod Security warn level, ...), which apply treats as failures.
	warnings *warnings
}

// crds installs into the shared cluster once the snapshot API (the EKS stack renders a
// VolumeSnapshotClass, and the destroy takes a final snapshot) and the Prometheus
// Operator's (monitoring auto then renders the monitoring objects, as on a cluster
// with kube-prometheus-stack).
var crds struct {
	sync.Once
	err error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := kubetest.Shared(t)
	crds.Do(func() {
		if crds.err = kubetest.InstallSnapshotCRDs(context.Background(), c.Config); crds.err == nil {
			crds.err = kubetest.InstallMonitoringCRDs(context.Background(), c.Config)
		}
	})
	if crds.err != nil {
		t.Fatal(crds.err)
	}
	snaps, err := snapshotclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		client:   c.Client,
		snaps:    snaps,
		dyn:      dyn,
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery())),
		warnings: w,
	}
}

// warnings collects the API server's Warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings so far and forgets them.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.list
	w.list = nil
	return list
}

// deployment is one rendering of the stack into a namespace of its own.
type deployment struct {
	namespace string
	objects   []*unstructured.Unstructured
}

// render runs the Pulumi program with config overrides and a fresh namespace, so tests
// sharing the cluster never see each other's objects. The cluster serves the Prometheus
// Operator's API (newEnv), so the program is told so.
func (e *env) render(t *testing.T, overrides map[string]string) *deployment {
	t.Helper()
	cfg := stacktest.Config(overrides)
	cfg["namespace"] = "e2e-" + strings.ToLower(rand.Text()[:8])
	rec, err := stacktest.RunServingMonitoring(cfg, true)
	if err != nil {
		t.Fatalf("rendering the stack with %v: %v", overrides, err)
	}
	objs, err := rec.KubernetesObjects()
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{namespace: cfg["namespace"], objects: objs}
	t.Cleanup(func() {
		// The namespace's deletion takes its objects along, in the background.
		err := e.client.CoreV1().Namespaces().Delete(context.Background(), d.namespace, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", d.namespace, err)
		}
	})
	return d
}

// object returns the rendered object of a kind and name.
func (d *deployment) object(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range d.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the stack renders no %s %s", kind, name)
	return nil
}

// applyOrder is the order Pulumi's dependencies impose: the namespace, then what
// workloads refer to, then the workloads, then what selects their pods.
var applyOrder = map[string]int{
	"Namespace":    0,
	"StorageClass": 1, "VolumeSnapshotClass": 1, "Secret": 1, "ConfigMap": 1, "ServiceAccount": 1, "Service": 1,
	"StatefulSet": 2, "Deployment": 2,
	"PodDisruptionBudget": 3, "NetworkPolicy": 3, "PodMonitor": 3, "PrometheusRule": 3,
}

// apply server-side-applies every object in dependency order, for real, and fails t
// with every rejection and warning.
func (e *env) apply(t *testing.T, d *deployment) {
	t.Helper()
	if err := e.applyAll(t.Context(), d.objects); err != nil {
		t.Fatal(err)
	}
}

func (e *env) applyAll(ctx context.Context, objects []*unstructured.Unstructured) error {
	objs := slices.Clone(objects)
	for _, o := range objs {
		if _, ok := applyOrder[o.GetKind()]; !ok {
			return fmt.Errorf("%s %s: no apply order for this kind; add it to applyOrder", o.GetKind(), o.GetName())
		}
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Compare(applyOrder[a.GetKind()], applyOrder[b.GetKind()])
	})
	var errs []error
	for _, o := range objs {
		if err := e.applyOne(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err))
		}
		for _, w := range e.warnings.take() {
			errs = append(errs, fmt.Errorf("%s %s/%s: warning: %s", o.GetKind(), o.GetNamespace(), o.GetName(), w))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("server-side apply of %d objects: %d errors and warnings:\n%w", len(objs), len(errs), errors.Join(errs...))
	}
	return nil
}

func (e *env) applyOne(ctx context.Context, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	mapping, err := e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = e.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = e.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	_, err = ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "counter-mysql-e2e"})
	return err
}

// createVolume creates what the EBS CSI driver would provision for the claim: a
// PersistentVolume of the stack's StorageClass with a CSI source. It is pre-bound to
// the claim so that tests sharing the cluster never take each other's volumes.
func (e *env) createVolume(t *testing.T, namespace, claim string, reclaim corev1.PersistentVolumeReclaimPolicy) string {
	t.Helper()
	name := namespace + "-" + claim
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": ebsDriver},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("100Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              storage.ClassName,
			ClaimRef:                      &corev1.ObjectReference{Namespace: namespace, Name: claim},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{Driver: ebsDriver, VolumeHandle: "vol-" + name, FSType: "ext4"},
			},
		},
	}
	if _, err := e.client.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := e.client.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting PersistentVolume %s: %v", name, err)
		}
	})
	return name
}

// eventually is kubetest.Eventually within waitTimeout.
func eventually(t *testing.T, what string, check func(ctx context.Context) error) {
	t.Helper()
	kubetest.Eventually(t, waitTimeout, what, check)
}

// readyPod waits until pod name exists, is not being deleted, is Ready and, if
// notUID is set, is a different pod than that one; it returns the pod.
func (e *env) readyPod(t *testing.T, namespace, name string, notUID string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, "pod "+namespace+"/"+name+" Ready", func(ctx context.Context) error {
		p, err := e.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err != nil:
			return err
		case string(p.UID) == notUID || p.DeletionTimestamp != nil:
			return errors.New("still the old pod")
		case !kubetest.PodReady(p):
			return fmt.Errorf("phase %s, conditions %v", p.Status.Phase, p.Status.Conditions)
		}
		pod = p
		return nil
	})
	return pod
}

// boundClaim waits until the claim is Bound and returns it.
func (e *env) boundClaim(t *testing.T, namespace, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	return kubetest.BoundClaim(t, e.client, waitTimeout, namespace, name)
}

// gone waits until get reports NotFound.
func gone(t *testing.T, what string, get func(ctx context.Context) error) {
	t.Helper()
	eventually(t, what+" deleted", func(ctx context.Context) error {
		err := get(ctx)
		if err == nil {
			return errors.New("still exists")
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}
