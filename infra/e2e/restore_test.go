package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"

	"github.com/counter-mysql/counter-mysql/infra/cleanup"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/restore"
)

const restoreSetting = "counter-mysql:restoreFromSnapshot"

// TestRestoreLookup finds restore sources, and refuses the ones that would not restore,
// through the real API server with the snapshot CRDs: what `pulumi preview` does in mode
// existing before it registers anything.
func TestRestoreLookup(t *testing.T) {
	e := newEnv(t)
	id := strings.ToLower(rand.Text()[:6])
	ebsClass, otherClass := e.storageClass(t, "restore-ebs-"+id, ebsDriver), e.storageClass(t, "restore-other-"+id, "other.csi.example.com")
	ns, elsewhere := e.namespace(t), e.namespace(t)
	final := e.readyContent(t, "final-"+id, ebsDriver, "snap-0123456789abcdef0", "1Gi")
	big := e.readyContent(t, "big-"+id, ebsDriver, "snap-0123456789abcdef2", "50Gi")
	notReady := e.content(t, "pending-"+id, ebsDriver, "snap-0123456789abcdef3")
	foreign := e.readyContent(t, "foreign-"+id, "other.csi.example.com", "disk-snap-1", "1Gi")
	e.boundSnapshot(t, ns, "mine-"+id, final)
	e.boundSnapshot(t, elsewhere, "theirs-"+id, final)

	cluster := restore.Cluster{Kube: e.client, Snapshots: e.snaps, Namespace: ns, Claim: database.ClaimName, StorageClass: ebsClass, SnapshotName: database.RestoreSnapshotName}
	lookup := func(c restore.Cluster, value string) (restore.Source, error) {
		return restore.FromCluster(t.Context(), c, restore.Request{
			Setting: restoreSetting, Value: value, Size: resource.MustParse("20Gi"), SizeSetting: "counter-mysql:mysqlStorageSize",
		})
	}
	for _, tc := range []struct {
		name, value string
		want        restore.Source
	}{
		{"a VolumeSnapshotContent, as a destroy leaves it", final, restore.Source{Driver: ebsDriver, SnapshotHandle: "snap-0123456789abcdef0"}},
		{"a VolumeSnapshot in the stack's namespace", "mine-" + id, restore.Source{Driver: ebsDriver, SnapshotHandle: "snap-0123456789abcdef0"}},
		{"an EBS snapshot id, for the StorageClass's driver", "snap-0123456789abcdef9", restore.Source{Driver: ebsDriver, SnapshotHandle: "snap-0123456789abcdef9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookup(cluster, tc.value)
			if err != nil || got != tc.want {
				t.Errorf("FromCluster(%s) = %+v, %v; want %+v", tc.value, got, err, tc.want)
			}
		})
	}

	otherClassCluster := cluster
	otherClassCluster.StorageClass = otherClass
	for _, tc := range []struct {
		name    string
		cluster restore.Cluster
		value   string
		want    []string
	}{
		{"unknown", cluster, "no-such-snapshot", []string{restoreSetting + " no-such-snapshot", "no VolumeSnapshotContent, nor VolumeSnapshot in namespace " + ns, "kubectl get volumesnapshotcontent"}},
		{"in another namespace", cluster, "theirs-" + id, []string{restoreSetting + " theirs-" + id, "is in namespace " + elsewhere, "set the setting to its VolumeSnapshotContent, " + final}},
		{"not ready", cluster, notReady, []string{"VolumeSnapshotContent " + notReady + " is not ready to use", "wait until it is"}},
		{"bigger than the volume", cluster, big, []string{"counter-mysql:mysqlStorageSize 20Gi is smaller than VolumeSnapshotContent " + big, "set counter-mysql:mysqlStorageSize to 50Gi or more"}},
		{"another driver's snapshot", cluster, foreign, []string{"belongs to CSI driver other.csi.example.com", "StorageClass " + ebsClass + " is provisioned by " + ebsDriver, "counter-mysql:storageClassName"}},
		{"a StorageClass of another driver", otherClassCluster, final, []string{"belongs to CSI driver " + ebsDriver, "is provisioned by other.csi.example.com"}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := lookup(tc.cluster, tc.value)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}

	t.Run("refused: a kept volume would be bound instead", func(t *testing.T) {
		kept := e.namespace(t)
		pv := e.createVolume(t, kept, database.ClaimName, corev1.PersistentVolumeReclaimRetain)
		e.release(t, pv, kept+"/"+database.ClaimName)
		c := cluster
		c.Namespace = kept
		_, err := lookup(c, final)
		if err == nil || !strings.Contains(err.Error(), "PersistentVolume "+pv+", kept by an earlier stack in namespace "+kept) ||
			!strings.Contains(err.Error(), "unset the setting to continue on the kept volume") {
			t.Fatalf("error = %v; want the kept volume named, and the way out", err)
		}
	})

	t.Run("a claim that exists: refused, unless it starts from this restore", func(t *testing.T) {
		for _, tc := range []struct {
			dataSource *corev1.TypedLocalObjectReference
			refused    bool
		}{
			{nil, true},
			{&corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: database.RestoreSnapshotName}, false},
		} {
			c := cluster
			c.Namespace = e.namespace(t)
			claim := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: database.ClaimName},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &ebsClass, DataSource: tc.dataSource,
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
				},
			}
			if _, err := e.client.CoreV1().PersistentVolumeClaims(c.Namespace).Create(t.Context(), claim, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err := lookup(c, final)
			if tc.refused && (err == nil || !strings.Contains(err.Error(), "claim "+c.Namespace+"/"+database.ClaimName+" exists already")) {
				t.Errorf("claim without this restore's dataSource: error = %v", err)
			}
			if !tc.refused && err != nil {
				t.Errorf("claim made by this restore (an up that stopped half-way) refused: %v", err)
			}
		}
	})
}

func (e *env) namespace(t *testing.T) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(rand.Text()[:8])
	if _, err := e.client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

func (e *env) storageClass(t *testing.T, name, driver string) string {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: driver}
	if _, err := e.client.StorageV1().StorageClasses().Create(t.Context(), sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.client.StorageV1().StorageClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// content creates a pre-provisioned VolumeSnapshotContent that no controller has seen.
func (e *env) content(t *testing.T, name, driver, handle string) string {
	t.Helper()
	c := &snapshotv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: snapshotv1.VolumeSnapshotContentSpec{
			DeletionPolicy: snapshotv1.VolumeSnapshotContentRetain, Driver: driver,
			Source:            snapshotv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: "gone", Name: "deleted-with-its-namespace"},
		},
	}
	if _, err := e.snaps.SnapshotV1().VolumeSnapshotContents().Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.snaps.SnapshotV1().VolumeSnapshotContents().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// readyContent is content with the status the controller gives a ready snapshot of size.
func (e *env) readyContent(t *testing.T, name, driver, handle, size string) string {
	t.Helper()
	e.content(t, name, driver, handle)
	api := e.snaps.SnapshotV1().VolumeSnapshotContents()
	c, err := api.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Status = &snapshotv1.VolumeSnapshotContentStatus{SnapshotHandle: &handle, ReadyToUse: ptr.To(true), RestoreSize: ptr.To(ptr.To(resource.MustParse(size)).Value())}
	if _, err := api.UpdateStatus(t.Context(), c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// boundSnapshot creates a VolumeSnapshot in namespace bound to content.
func (e *env) boundSnapshot(t *testing.T, namespace, name, content string) {
	t.Helper()
	api := e.snaps.SnapshotV1().VolumeSnapshots(namespace)
	s, err := api.Create(t.Context(), &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       snapshotv1.VolumeSnapshotSpec{Source: snapshotv1.VolumeSnapshotSource{VolumeSnapshotContentName: &content}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Status = &snapshotv1.VolumeSnapshotStatus{BoundVolumeSnapshotContentName: &content, ReadyToUse: ptr.To(true)}
	if _, err := api.UpdateStatus(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// release makes volume pv what KeepVolumes leaves once its claim is gone: marked as kept
// from keptFrom, and Released (its claimRef names a claim uid that no longer exists, so
// the PV controller releases it).
func (e *env) release(t *testing.T, pv, keptFrom string) {
	t.Helper()
	api := e.client.CoreV1().PersistentVolumes()
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{cleanup.KeptFromAnnotation: keptFrom}},
		"spec":     map[string]any{"claimRef": map[string]any{"uid": uuid.NewUUID()}},
	})
	if _, err := api.Patch(t.Context(), pv, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "volume "+pv+" Released", func(ctx context.Context) error {
		v, err := api.Get(ctx, pv, metav1.GetOptions{})
		if err == nil && v.Status.Phase != corev1.VolumeReleased {
			return fmt.Errorf("phase %s", v.Status.Phase)
		}
		return err
	})
}
