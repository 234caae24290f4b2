package enginetest

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

const restoreSetting = "counter-mysql:restoreFromSnapshot"

// TestRestoreFromSnapshot: a destroy leaves a final snapshot; a new stack whose
// restoreFromSnapshot names it (the VolumeSnapshotContent the destroy printed) starts its
// volume from it, keeps that origin on later runs, refuses a change of the setting, and
// its own destroy leaves the source snapshot alone. Bad values fail at preview.
func TestRestoreFromSnapshot(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.newStack(t, nil)
	old.MustUp(t)
	w.deleteReleasedVolumes(t, old.namespace, 0)
	if _, err := old.RunDestroy(t, true); err != nil {
		t.Fatal(err)
	}
	finals := w.finalSnapshots(t, old.namespace)
	if len(finals) != 1 || finals[0].Status == nil || finals[0].Status.SnapshotHandle == nil {
		t.Fatalf("want the old stack's final snapshot, got %+v", finals)
	}
	source, handle := finals[0].Name, *finals[0].Status.SnapshotHandle

	t.Run("preview refuses a snapshot that does not exist, naming the setting", func(t *testing.T) {
		refusedAtPreview(t, w, "no-such-snapshot", restoreSetting+" no-such-snapshot", "no VolumeSnapshotContent, nor VolumeSnapshot")
	})

	s := w.newStack(t, map[string]string{"restoreFromSnapshot": source, "finalSnapshot": "false"})
	t.Run("up starts the volume from the snapshot", func(t *testing.T) {
		res, _ := s.MustUp(t)
		claim, pv := s.claimVolume(t)
		ds := claim.Spec.DataSource
		if ds == nil || ptr.Deref(ds.APIGroup, "") != "snapshot.storage.k8s.io" || ds.Kind != "VolumeSnapshot" || ds.Name != database.RestoreSnapshotName {
			t.Errorf("claim %s dataSource = %+v, want VolumeSnapshot %s", claim0, ds, database.RestoreSnapshotName)
		}
		volume, err := w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := volume.Annotations[kubetest.RestoredFromAnnotation]; got != handle {
			t.Errorf("volume %s was restored from %q, want the final snapshot %s", pv, got, handle)
		}
		out, _ := res.Outputs["restoredFromSnapshot"].Value.(map[string]any)
		if out["source"] != source || out["snapshotHandle"] != handle || out["driver"] != csiDriver {
			t.Errorf("output restoredFromSnapshot = %v, want source %s, handle %s, driver %s", out, source, handle, csiDriver)
		}
	})

	t.Run("a second up changes nothing", func(t *testing.T) {
		if _, _, err := s.RunPreview(t, optpreview.ExpectNoChanges()); err != nil {
			t.Errorf("preview --expect-no-changes: %v", err)
		}
	})

	t.Run("preview refuses unsetting it on the restored stack", func(t *testing.T) {
		s.SetConfig(t, map[string]string{"restoreFromSnapshot": ""})
		defer s.SetConfig(t, map[string]string{"restoreFromSnapshot": source})
		_, out, err := s.RunPreview(t)
		if err == nil {
			t.Fatal("preview accepted")
		}
		mustContain(t, "preview", err.Error()+out, restoreSetting+" unset", "pulumi config set "+restoreSetting+" "+source)
	})

	t.Run("preview refuses a VolumeSnapshot of another namespace, naming its content", func(t *testing.T) {
		refusedAtPreview(t, w, database.RestoreSnapshotName,
			restoreSetting+" "+database.RestoreSnapshotName, "is in namespace "+s.namespace, "its VolumeSnapshotContent")
	})

	t.Run("destroy leaves the source snapshot", func(t *testing.T) {
		w.deleteReleasedVolumes(t, s.namespace, 0)
		if _, err := s.RunDestroy(t, true); err != nil {
			t.Fatal(err)
		}
		if _, err := w.snaps.SnapshotV1().VolumeSnapshotContents().Get(t.Context(), source, metav1.GetOptions{}); err != nil {
			t.Errorf("the source VolumeSnapshotContent %s after the restored stack's destroy: %v", source, err)
		}
		if left := w.finalSnapshots(t, s.namespace); len(left) > 0 {
			t.Errorf("the destroy left the stack's restore content behind: %v", left)
		}
	})
}

// refusedAtPreview previews a new stack restoring from value and wants it refused, saying
// wants. A destroy runs the program too, and so refuses the value as well: the setting is
// unset for the stack's clean-up (whose destroy must then succeed), as the message tells
// a user to.
func refusedAtPreview(t *testing.T, w *world, value string, wants ...string) {
	t.Helper()
	s := w.newStack(t, map[string]string{"restoreFromSnapshot": value})
	_, out, err := s.RunPreview(t)
	if err == nil {
		t.Fatal("preview accepted restoreFromSnapshot " + value)
	}
	mustContain(t, "preview", err.Error()+out, wants...)
	s.SetConfig(t, map[string]string{"restoreFromSnapshot": ""})
}
