package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// snapshotModule holds the snapshot API's Go types and, in config/crd, its CRDs: the
// version go.mod requires is the one installed, read from the module cache.
const snapshotModule = "github.com/kubernetes-csi/external-snapshotter/client/v8"

// DefaultSnapshotClassAnnotation marks the VolumeSnapshotClass used when a snapshot names none.
const DefaultSnapshotClassAnnotation = "snapshot.storage.kubernetes.io/is-default-class"

// InstallSnapshotCRDs installs the snapshot.storage.k8s.io CRDs (VolumeSnapshot,
// VolumeSnapshotContent, VolumeSnapshotClass) and waits until they are served. It needs
// the go command, which finds the module's directory.
func InstallSnapshotCRDs(ctx context.Context, cfg *rest.Config) error {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", snapshotModule).Output()
	if err != nil {
		return fmt.Errorf("kubetest: finding %s in the module cache (go mod download %s): %w", snapshotModule, snapshotModule, err)
	}
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "snapshot.storage.k8s.io_*.yaml"))
	if err != nil || len(files) != 3 {
		return fmt.Errorf("kubetest: want 3 snapshot CRDs in %s/config/crd, found %v (%v)", snapshotModule, files, err)
	}
	return installCRDs(ctx, cfg, files)
}

// SnapshotVolumes plays the snapshot controller and the CSI driver's csi-snapshotter
// until ctx ends, through the API only: every VolumeSnapshot of a claim that has no
// status yet gets a VolumeSnapshotContent bound to it, with its class's driver and
// deletionPolicy (the default class when it names none), a snapshotHandle snap-<8 hex>
// and the volume's size as restoreSize; delay later both are readyToUse, as a real
// snapshot is after its upload. A pre-provisioned VolumeSnapshot (source
// volumeSnapshotContentName) is bound and ready at once if its content points back at it
// and its snapshotHandle is one this stand-in took (the "cloud" has it), and gets an
// error otherwise, as from a driver that cannot find the snapshot.
// Only snapshots in one of namespaces are touched (all if none are given).
func SnapshotVolumes(ctx context.Context, kube kubernetes.Interface, snaps snapshotclient.Interface, delay time.Duration, namespaces ...string) {
	bound := map[string]time.Time{} // snapshot UID -> when its content was created
	_ = wait.PollUntilContextCancel(ctx, csiPoll, true, func(ctx context.Context) (bool, error) {
		list, err := snaps.SnapshotV1().VolumeSnapshots("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil // retried on the next tick, like the real controller
		}
		for i := range list.Items {
			s := &list.Items[i]
			if len(namespaces) > 0 && !slices.Contains(namespaces, s.Namespace) {
				continue
			}
			if s.Spec.Source.VolumeSnapshotContentName != nil {
				if s.Status == nil || !ptr.Deref(s.Status.ReadyToUse, false) {
					bindPreProvisioned(ctx, snaps, s)
				}
				continue
			}
			switch {
			case s.Status == nil || s.Status.BoundVolumeSnapshotContentName == nil:
				if err := bindContent(ctx, kube, snaps, s); err != nil {
					s.Status = &snapshotv1.VolumeSnapshotStatus{Error: &snapshotv1.VolumeSnapshotError{
						Time: ptr.To(metav1.Now()), Message: ptr.To(err.Error()),
					}}
					_, _ = snaps.SnapshotV1().VolumeSnapshots(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
					continue
				}
				bound[string(s.UID)] = time.Now()
			case !ptr.Deref(s.Status.ReadyToUse, false):
				if seen, ok := bound[string(s.UID)]; ok && time.Since(seen) >= delay {
					markReady(ctx, snaps, s)
				}
			}
		}
		return false, nil
	})
}

// bindContent creates the snapshot's content, "taken" of its claim's volume, and binds it.
func bindContent(ctx context.Context, kube kubernetes.Interface, snaps snapshotclient.Interface, s *snapshotv1.VolumeSnapshot) error {
	claim, err := kube.CoreV1().PersistentVolumeClaims(s.Namespace).Get(ctx, *s.Spec.Source.PersistentVolumeClaimName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("source claim: %w", err)
	}
	if claim.Spec.VolumeName == "" {
		return fmt.Errorf("source claim %s is not bound", claim.Name)
	}
	pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil || pv.Spec.CSI == nil {
		return fmt.Errorf("source volume %s is not a CSI volume (%v)", claim.Spec.VolumeName, err)
	}
	class, err := snapshotClass(ctx, snaps, s.Spec.VolumeSnapshotClassName)
	if err != nil {
		return err
	}
	content := &snapshotv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: "snapcontent-" + string(s.UID)},
		Spec: snapshotv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef:       corev1.ObjectReference{Kind: "VolumeSnapshot", APIVersion: "snapshot.storage.k8s.io/v1", Namespace: s.Namespace, Name: s.Name, UID: s.UID},
			DeletionPolicy:          class.DeletionPolicy,
			Driver:                  class.Driver,
			VolumeSnapshotClassName: &class.Name,
			Source:                  snapshotv1.VolumeSnapshotContentSource{VolumeHandle: &pv.Spec.CSI.VolumeHandle},
		},
	}
	created, err := snaps.SnapshotV1().VolumeSnapshotContents().Create(ctx, content, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) { // a retry after a later step failed
		created, err = snaps.SnapshotV1().VolumeSnapshotContents().Get(ctx, content.Name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("creating VolumeSnapshotContent: %w", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	created.Status = &snapshotv1.VolumeSnapshotContentStatus{
		SnapshotHandle: ptr.To("snap-" + hex.EncodeToString(b)), ReadyToUse: ptr.To(false),
		RestoreSize: ptr.To(pv.Spec.Capacity.Storage().Value()),
	}
	if _, err := snaps.SnapshotV1().VolumeSnapshotContents().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("VolumeSnapshotContent status: %w", err)
	}
	s.Status = &snapshotv1.VolumeSnapshotStatus{BoundVolumeSnapshotContentName: &created.Name, ReadyToUse: ptr.To(false)}
	_, err = snaps.SnapshotV1().VolumeSnapshots(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	return err
}

// bindPreProvisioned binds a VolumeSnapshot of an existing snapshot to its content and
// makes both ready, or records on the VolumeSnapshot why not.
func bindPreProvisioned(ctx context.Context, snaps snapshotclient.Interface, s *snapshotv1.VolumeSnapshot) {
	fail := func(msg string) {
		s.Status = &snapshotv1.VolumeSnapshotStatus{Error: &snapshotv1.VolumeSnapshotError{Time: ptr.To(metav1.Now()), Message: ptr.To(msg)}}
		_, _ = snaps.SnapshotV1().VolumeSnapshots(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	}
	contents := snaps.SnapshotV1().VolumeSnapshotContents()
	content, err := contents.Get(ctx, *s.Spec.Source.VolumeSnapshotContentName, metav1.GetOptions{})
	if err != nil {
		fail("content: " + err.Error())
		return
	}
	if ref := content.Spec.VolumeSnapshotRef; ref.Namespace != s.Namespace || ref.Name != s.Name {
		fail(fmt.Sprintf("VolumeSnapshotContent %s is for %s/%s", content.Name, ref.Namespace, ref.Name))
		return
	}
	handle := ptr.Deref(content.Spec.Source.SnapshotHandle, "")
	taken := takenSnapshot(ctx, snaps, handle)
	if taken == nil {
		fail(fmt.Sprintf("snapshot %q not found by driver %s", handle, content.Spec.Driver))
		return
	}
	content.Status = &snapshotv1.VolumeSnapshotContentStatus{
		SnapshotHandle: &handle, ReadyToUse: ptr.To(true), RestoreSize: taken.Status.RestoreSize, CreationTime: taken.Status.CreationTime,
	}
	if _, err := contents.UpdateStatus(ctx, content, metav1.UpdateOptions{}); err != nil {
		return // retried on the next tick
	}
	s.Status = &snapshotv1.VolumeSnapshotStatus{BoundVolumeSnapshotContentName: &content.Name, ReadyToUse: ptr.To(true)}
	if size := taken.Status.RestoreSize; size != nil {
		s.Status.RestoreSize = resource.NewQuantity(*size, resource.BinarySI)
	}
	_, _ = snaps.SnapshotV1().VolumeSnapshots(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
}

// takenSnapshot is the content of a snapshot this stand-in took with handle, ready to use:
// the cloud's record of it. Nil if there is none.
func takenSnapshot(ctx context.Context, snaps snapshotclient.Interface, handle string) *snapshotv1.VolumeSnapshotContent {
	list, err := snaps.SnapshotV1().VolumeSnapshotContents().List(ctx, metav1.ListOptions{})
	if err != nil || handle == "" {
		return nil
	}
	for i, c := range list.Items {
		if c.Spec.Source.VolumeHandle != nil && c.Status != nil && ptr.Deref(c.Status.SnapshotHandle, "") == handle && ptr.Deref(c.Status.ReadyToUse, false) {
			return &list.Items[i]
		}
	}
	return nil
}

// snapshotClass is the named class, or the one marked default.
func snapshotClass(ctx context.Context, snaps snapshotclient.Interface, name *string) (*snapshotv1.VolumeSnapshotClass, error) {
	if name != nil {
		return snaps.SnapshotV1().VolumeSnapshotClasses().Get(ctx, *name, metav1.GetOptions{})
	}
	classes, err := snaps.SnapshotV1().VolumeSnapshotClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range classes.Items {
		if classes.Items[i].Annotations[DefaultSnapshotClassAnnotation] == "true" {
			return &classes.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no default VolumeSnapshotClass (annotation %s)", DefaultSnapshotClassAnnotation)
}

func markReady(ctx context.Context, snaps snapshotclient.Interface, s *snapshotv1.VolumeSnapshot) {
	content, err := snaps.SnapshotV1().VolumeSnapshotContents().Get(ctx, *s.Status.BoundVolumeSnapshotContentName, metav1.GetOptions{})
	if err != nil || content.Status == nil {
		return
	}
	now := time.Now()
	content.Status.ReadyToUse = ptr.To(true)
	content.Status.CreationTime = ptr.To(now.UnixNano())
	if _, err := snaps.SnapshotV1().VolumeSnapshotContents().UpdateStatus(ctx, content, metav1.UpdateOptions{}); err != nil {
		return // retried on the next tick
	}
	s.Status.ReadyToUse = ptr.To(true)
	s.Status.CreationTime = ptr.To(metav1.NewTime(now))
	if size := content.Status.RestoreSize; size != nil {
		s.Status.RestoreSize = resource.NewQuantity(*size, resource.BinarySI)
	}
	_, _ = snaps.SnapshotV1().VolumeSnapshots(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
}
