package kubetest

import (
	"context"
	"slices"
	"time"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The cluster has no CSI driver: no container runs. The two functions below stand in for
// the parts of one that the stack's volume lifecycle depends on, acting only through the
// API as the driver's sidecars do. Nothing is written anywhere: a volume's "disk" is its
// volumeHandle.

// provisionerAnnotation is how the PV controller hands a claim to an external provisioner.
const provisionerAnnotation = "volume.kubernetes.io/storage-provisioner"

// provisionedByAnnotation names the provisioner of a volume, as the real sidecar sets it.
const provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"

// selectedNodeAnnotation is how the scheduler tells the provisioner where the pod of a
// WaitForFirstConsumer claim is going; until it is set, such a claim is left Pending.
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node"

// csiPoll is how often the stand-ins look at the cluster; the real sidecars react to
// watch events within about a second.
const csiPoll = 100 * time.Millisecond

// ProvisionVolumes plays the external-provisioner of class's driver (its provisioner)
// until ctx ends: every Pending claim of the class that the PV controller hands to the
// driver gets a PersistentVolume of its requested size, pre-bound to it, with the class's
// reclaim policy, and the PV controller binds them. As with the real sidecar, a claim of a
// WaitForFirstConsumer class is provisioned only once the scheduler has picked a node for
// its pod (selectedNodeAnnotation): a claim no pod uses stays Pending.
// A claim whose dataSource is a VolumeSnapshot waits, as with the real sidecar, until the
// snapshot is ready to use; it is provisioned only if the snapshot's content is driver's
// and fits the requested size, and its volume is annotated RestoredFromAnnotation with the
// snapshotHandle (the "disk" starts from it). Without snaps such claims stay Pending.
// The class is created as given if missing.
func ProvisionVolumes(ctx context.Context, client kubernetes.Interface, snaps snapshotclient.Interface, class *storagev1.StorageClass) error {
	return ProvisionVolumesAs(ctx, client, snaps, class, func(c *corev1.PersistentVolumeClaim, _ string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error) {
		return corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: class.Provisioner, VolumeHandle: "vol-" + string(c.UID), FSType: "ext4"},
		}, nil, nil
	})
}

// VolumeSource makes the "disk" of claim c, on node (the node the scheduler picked for its
// pod; "" on an Immediate class): the volume's source and, if it lives on a node, the
// affinity that keeps its pods there.
type VolumeSource func(c *corev1.PersistentVolumeClaim, node string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error)

// ProvisionVolumesAs is ProvisionVolumes with volumes made by source, for a node that
// mounts them for real (infra/nodetest) where ProvisionVolumes' are handles only.
func ProvisionVolumesAs(ctx context.Context, client kubernetes.Interface, snaps snapshotclient.Interface, class *storagev1.StorageClass, source VolumeSource) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	go func() {
		_ = wait.PollUntilContextCancel(ctx, csiPoll, true, func(ctx context.Context) (bool, error) {
			provisionPending(ctx, client, snaps, class.Name, class.Provisioner, source)
			return false, nil
		})
	}()
	return nil
}

// ImmediateClass is class, renamed, binding its claims as soon as they are created: the
// API's default mode, so that of any class made without the field, and the program must
// work on both.
func ImmediateClass(class *storagev1.StorageClass, name string) *storagev1.StorageClass {
	c := class.DeepCopy()
	c.Name = name
	c.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	return c
}

// RestoredFromAnnotation marks a volume ProvisionVolumes made from a snapshot, with the
// snapshot's handle.
const RestoredFromAnnotation = "kubetest.counter-mysql.io/restored-from"

func provisionPending(ctx context.Context, client kubernetes.Interface, snaps snapshotclient.Interface, class, driver string, source VolumeSource) {
	sc, err := client.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{})
	if err != nil {
		return // retried on the next tick, like the real sidecar
	}
	claims, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, c := range claims.Items {
		// As the real sidecar: only claims the PV controller found no existing volume for,
		// and so handed to this driver by annotation.
		if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != class || c.Annotations[provisionerAnnotation] != driver ||
			c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" || c.DeletionTimestamp != nil {
			continue
		}
		if ptr.Deref(sc.VolumeBindingMode, storagev1.VolumeBindingImmediate) == storagev1.VolumeBindingWaitForFirstConsumer && c.Annotations[selectedNodeAnnotation] == "" {
			continue // as the real sidecar: the scheduler has not placed the claim's pod yet
		}
		annotations := map[string]string{provisionedByAnnotation: driver}
		if ds := c.Spec.DataSource; ds != nil {
			handle, ok := restoreHandle(ctx, snaps, c, driver)
			if !ok {
				continue // as the real sidecar: retried until the snapshot is ready, or forever
			}
			annotations[RestoredFromAnnotation] = handle
		}
		src, affinity, err := source(&c, c.Annotations[selectedNodeAnnotation])
		if err != nil {
			continue // as the real sidecar: retried
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{
				Name:        "pvc-" + string(c.UID),
				Annotations: annotations,
			},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   c.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: *sc.ReclaimPolicy,
				StorageClassName:              class,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
				PersistentVolumeSource:        src,
				NodeAffinity:                  affinity,
			},
		}
		_, _ = client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	}
}

// restoreHandle is the snapshotHandle claim c is to start from, if its VolumeSnapshot is
// ready, of driver, and fits the claim.
func restoreHandle(ctx context.Context, snaps snapshotclient.Interface, c corev1.PersistentVolumeClaim, driver string) (string, bool) {
	ds := c.Spec.DataSource
	if snaps == nil || ds.Kind != "VolumeSnapshot" || ptr.Deref(ds.APIGroup, "") != "snapshot.storage.k8s.io" {
		return "", false
	}
	s, err := snaps.SnapshotV1().VolumeSnapshots(c.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil || s.Status == nil || !ptr.Deref(s.Status.ReadyToUse, false) || s.Status.BoundVolumeSnapshotContentName == nil {
		return "", false
	}
	content, err := snaps.SnapshotV1().VolumeSnapshotContents().Get(ctx, *s.Status.BoundVolumeSnapshotContentName, metav1.GetOptions{})
	if err != nil || content.Spec.Driver != driver || content.Status == nil || content.Status.SnapshotHandle == nil {
		return "", false
	}
	if size := content.Status.RestoreSize; size != nil && c.Spec.Resources.Requests.Storage().Value() < *size {
		return "", false
	}
	return *content.Status.SnapshotHandle, true
}

// DeleteReleasedVolumes plays driver's part in volume deletion until ctx ends: once a
// volume of driver with reclaim policy Delete has been Released (its claim gone) for delay,
// the disk is deleted (nothing to do here) and then the PersistentVolume. A real driver
// takes seconds to delete a disk; a delay makes a test see whether anything waits for it.
// Only volumes whose claim was in one of namespaces are touched (all if none are given),
// so tests sharing a cluster keep out of each other's way.
func DeleteReleasedVolumes(ctx context.Context, client kubernetes.Interface, driver string, delay time.Duration, namespaces ...string) {
	DeleteReleasedVolumesAs(ctx, client, driver, delay, func(*corev1.PersistentVolume) error { return nil }, namespaces...)
}

// DeleteReleasedVolumesAs is DeleteReleasedVolumes with deleteDisk run before each
// PersistentVolume is deleted (a volume whose deleteDisk fails is tried again), for
// volumes ProvisionVolumesAs made that hold data. It plays driver's part for the volumes
// it provisioned (pv.kubernetes.io/provisioned-by) as well as for its CSI volumes.
func DeleteReleasedVolumesAs(ctx context.Context, client kubernetes.Interface, driver string, delay time.Duration, deleteDisk func(*corev1.PersistentVolume) error, namespaces ...string) {
	released := map[string]time.Time{} // first seen Released
	_ = wait.PollUntilContextCancel(ctx, csiPoll, true, func(ctx context.Context) (bool, error) {
		pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil // retried on the next tick, like the real sidecar
		}
		for _, pv := range pvs.Items {
			ref := pv.Spec.ClaimRef
			ours := (pv.Spec.CSI != nil && pv.Spec.CSI.Driver == driver) || pv.Annotations[provisionedByAnnotation] == driver
			if !ours || ref == nil ||
				(len(namespaces) > 0 && !slices.Contains(namespaces, ref.Namespace)) ||
				pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
				delete(released, pv.Name)
				continue
			}
			seen, ok := released[pv.Name]
			if !ok {
				released[pv.Name] = time.Now()
				seen = released[pv.Name]
			}
			if time.Since(seen) >= delay && deleteDisk(&pv) == nil {
				_ = client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
			}
		}
		return false, nil
	})
}
