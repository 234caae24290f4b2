package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/counter-mysql/counter-mysql/infra/cleanup"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/restore"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

const finalSnapshotSetting = "counter-mysql:finalSnapshot"

// TestFinalSnapshot runs the destroy's clean-up with the snapshot API installed and the
// snapshot controller and csi-snapshotter played by kubetest.SnapshotVolumes.
func TestFinalSnapshot(t *testing.T) {
	e := newEnv(t)

	t.Run("ready before the claim is deleted, and outlives it", func(t *testing.T) {
		d, _ := e.deployDatabase(t, nil, corev1.PersistentVolumeReclaimDelete)
		e.simulateCSIDriver(t, d.namespace)
		e.simulateSnapshotter(t, time.Second, d.namespace) // a delay a wrong order would show
		e.deleteStatefulSet(t, d)
		readyAtDeletion := e.snapshotsReadyWhenClaimDeleted(t, d.namespace)

		var logs bytes.Buffer
		err := cleanup.DeleteVolumes(t.Context(), e.client, e.snapshotOptions(t, d, storage.SnapshotClassName, &logs))
		if err != nil {
			t.Fatal(err)
		}
		if !readyAtDeletion() {
			t.Fatal("the claim's deletion was seen before its final snapshot was ready (or not at all)")
		}
		list, err := e.snaps.SnapshotV1().VolumeSnapshots(d.namespace).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("want one VolumeSnapshot, got %v (%v)", list, err)
		}
		s := list.Items[0]
		if got := s.Labels[cleanup.FinalSnapshotOfLabel]; got != claim0 || !strings.HasPrefix(s.Name, claim0+"-final-") {
			t.Errorf("snapshot %s labelled %q, want %s-final-<time> of %s", s.Name, got, claim0, claim0)
		}
		content, err := e.snaps.SnapshotV1().VolumeSnapshotContents().Get(t.Context(), *s.Status.BoundVolumeSnapshotContentName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = e.snaps.SnapshotV1().VolumeSnapshotContents().Delete(context.Background(), content.Name, metav1.DeleteOptions{})
		})
		if content.Spec.DeletionPolicy != "Retain" {
			t.Errorf("content %s has deletionPolicy %s: the namespace's deletion would take the snapshot", content.Name, content.Spec.DeletionPolicy)
		}
		handle := *content.Status.SnapshotHandle
		for _, want := range []string{s.Name, content.Name, handle, "outlives this stack", "0.05 USD per GB-month",
			"kubectl delete volumesnapshotcontent " + content.Name, "aws ec2 delete-snapshot --snapshot-id " + handle} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log does not mention %q:\n%s", want, logs.String())
			}
		}
	})

	t.Run("times out naming the snapshot and its error, and keeps the claim", func(t *testing.T) {
		d, _ := e.deployDatabase(t, nil, corev1.PersistentVolumeReclaimDelete)
		e.simulateCSIDriver(t, d.namespace)
		e.simulateSnapshotter(t, 0, d.namespace)
		e.deleteStatefulSet(t, d)

		opts := e.snapshotOptions(t, d, "no-such-class", nil)
		opts.Timeout = 3 * time.Second
		err := cleanup.DeleteVolumes(t.Context(), e.client, opts)
		if err == nil {
			t.Fatal("DeleteVolumes succeeded although the snapshot's class does not exist")
		}
		for _, want := range []string{d.namespace + "/" + claim0 + "-final-", "not ready to use after 3s", `"no-such-class" not found`,
			"claim is not deleted", "pulumi destroy --run-program"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q:\n%v", want, err)
			}
		}
		if c := e.boundClaim(t, d.namespace, claim0); c.DeletionTimestamp != nil {
			t.Errorf("claim %s is being deleted", claim0)
		}
	})

	t.Run("finalSnapshot false takes none", func(t *testing.T) {
		d, _ := e.deployDatabase(t, nil, corev1.PersistentVolumeReclaimDelete)
		e.simulateCSIDriver(t, d.namespace)
		e.simulateSnapshotter(t, 0, d.namespace)
		e.deleteStatefulSet(t, d)

		var logs bytes.Buffer
		opts := e.snapshotOptions(t, d, storage.SnapshotClassName, &logs)
		opts.FinalSnapshot = false
		if err := cleanup.DeleteVolumes(t.Context(), e.client, opts); err != nil {
			t.Fatal(err)
		}
		list, err := e.snaps.SnapshotV1().VolumeSnapshots(d.namespace).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(list.Items) != 0 {
			t.Errorf("want no VolumeSnapshot, got %v (%v)", list, err)
		}
		if want := "no final snapshot (" + finalSnapshotSetting + " is false)"; !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	})
}

// TestFinalSnapshotWithoutSnapshotAPI needs a cluster of its own: the shared one has the
// snapshot CRDs.
func TestFinalSnapshotWithoutSnapshotAPI(t *testing.T) {
	c := kubetest.Start(t)
	ns := c.Namespace(t, nil)
	claim, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim0, Labels: map[string]string{"app.kubernetes.io/name": "mysql"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName:       "pv-elsewhere", // what the snapshot would copy
			StorageClassName: ptr.To(""),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := snapshotclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	err = cleanup.DeleteVolumes(t.Context(), c.Client, cleanup.Options{
		Namespace: ns, Selector: "app.kubernetes.io/name=mysql", Timeout: 5 * time.Second,
		FinalSnapshot: true, Snapshots: snaps, FinalSnapshotSetting: finalSnapshotSetting,
	})
	if err == nil {
		t.Fatal("DeleteVolumes succeeded on a cluster without the snapshot API")
	}
	for _, want := range []string{"cannot take a final snapshot", "snapshot.storage.k8s.io/v1", "install the snapshot CRDs and controller",
		"set " + finalSnapshotSetting + " false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	got, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim.Name, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp != nil {
		t.Errorf("claim %s after the refusal: %v, deleting %v", claim.Name, err, got.DeletionTimestamp)
	}

	// Nor can a stack restore there, even from an EBS snapshot id: the claim's dataSource
	// is a VolumeSnapshot.
	_, err = restore.FromCluster(t.Context(), restore.Cluster{Kube: c.Client, Snapshots: snaps, Namespace: "new", Claim: claim0},
		restore.Request{Setting: restoreSetting, Value: "snap-0123456789abcdef0", Size: resource.MustParse("1Gi"), SizeSetting: "counter-mysql:mysqlStorageSize"})
	if err == nil || !strings.Contains(err.Error(), restoreSetting+" snap-0123456789abcdef0") || !strings.Contains(err.Error(), "no snapshot CRDs installed") {
		t.Errorf("restore on a cluster without the snapshot API: error = %v", err)
	}
}

// snapshotOptions are what the stack's destroy hook passes, with a final snapshot of class.
func (e *env) snapshotOptions(t *testing.T, d *deployment, class string, logs *bytes.Buffer) cleanup.Options {
	opts := cleanup.Options{
		Namespace: d.namespace, Selector: selector(t, d), Timeout: waitTimeout,
		FinalSnapshot: true, Snapshots: e.snaps, SnapshotClass: class, FinalSnapshotSetting: finalSnapshotSetting,
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return opts
}

// simulateSnapshotter runs kubetest.SnapshotVolumes for namespace until t ends.
func (e *env) simulateSnapshotter(t *testing.T, delay time.Duration, namespace string) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		kubetest.SnapshotVolumes(ctx, e.client, e.snaps, delay, namespace)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// snapshotsReadyWhenClaimDeleted watches the database's claim; the func it returns says
// whether, when the claim's deletion was first seen, every VolumeSnapshot in namespace
// was ready to use (false also when no deletion was seen).
func (e *env) snapshotsReadyWhenClaimDeleted(t *testing.T, namespace string) func() bool {
	t.Helper()
	w, err := e.client.CoreV1().PersistentVolumeClaims(namespace).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + claim0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ready := make(chan bool, 1)
	go func() {
		for ev := range w.ResultChan() {
			c, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			if !ok || (ev.Type != watch.Deleted && c.DeletionTimestamp == nil) {
				continue
			}
			list, err := e.snaps.SnapshotV1().VolumeSnapshots(namespace).List(context.Background(), metav1.ListOptions{})
			all := err == nil && len(list.Items) > 0
			for _, s := range list.Items {
				all = all && s.Status != nil && ptr.Deref(s.Status.ReadyToUse, false)
			}
			ready <- all
			return
		}
	}()
	return func() bool {
		select {
		case r := <-ready:
			return r
		case <-time.After(10 * time.Second):
			return false
		}
	}
}
