// Package cleanup deletes the database's volumes when the stack is destroyed.
//
// Deleting a StatefulSet leaves its PersistentVolumeClaims behind unless its retention
// policy says otherwise, and deleting a claim only starts the deletion of the volume: the
// CSI driver deletes the cloud disk and then the PersistentVolume, asynchronously. If the
// cluster (and the driver with it) is torn down before that finishes, the disk is leaked
// and keeps costing money. DeleteVolumes therefore deletes the claims and waits until the
// volumes are really gone, or says clearly which ones are not.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// DefaultTimeout bounds the wait for the volumes when Options.Timeout is zero. The EBS
// CSI driver usually needs well under a minute per volume.
const DefaultTimeout = 5 * time.Minute

// pollInterval is how often the volumes are checked while waiting.
const pollInterval = 500 * time.Millisecond

// Options selects the claims and says what to do with them.
type Options struct {
	Namespace string
	// Selector is the label selector of the StatefulSet's claims (they carry the
	// StatefulSet selector's matchLabels). It must not be empty: an empty selector would
	// match every claim in the namespace.
	Selector string
	// Retain keeps the volumes (KeepVolumes): nothing is deleted; what is kept, what it
	// costs and how to delete it later is logged.
	Retain bool
	// FinalSnapshot takes a VolumeSnapshot of each claim and waits until it is ready to use
	// before any claim is deleted (not with Retain: the volume itself is kept).
	FinalSnapshot bool
	// Snapshots is the snapshot API's client, used with FinalSnapshot.
	Snapshots snapshotclient.Interface
	// SnapshotClass names the final snapshot's VolumeSnapshotClass; empty: the cluster's default.
	SnapshotClass string
	// FinalSnapshotSetting is the stack setting behind FinalSnapshot, named in messages.
	FinalSnapshotSetting string
	// Timeout bounds the wait for the final snapshots to be ready, and then the wait for
	// the PersistentVolumes to be gone (DefaultTimeout if zero).
	Timeout time.Duration
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// DeleteVolumes deletes the claims opts selects, after their final snapshots are ready
// (Options.FinalSnapshot), and waits until the PersistentVolumes
// they were bound to no longer exist, and so do the volumes of claims in the namespace
// that were deleted before (by the StatefulSet's retention policy, or an earlier run).
// Nothing to delete is success, so it can be re-run.
func DeleteVolumes(ctx context.Context, client kubernetes.Interface, opts Options) error {
	if opts.Namespace == "" || opts.Selector == "" {
		return errors.New("cleanup: Namespace and Selector must both be set")
	}
	log := logger(opts)
	if opts.Retain {
		if err := KeepVolumes(ctx, client, opts); err != nil {
			return err
		}
		return logKept(ctx, client, log, opts.Namespace)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	claims, err := client.CoreV1().PersistentVolumeClaims(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: opts.Selector})
	if err != nil {
		return fmt.Errorf("cleanup: listing PersistentVolumeClaims in %s (%s): %w", opts.Namespace, opts.Selector, err)
	}
	if opts.FinalSnapshot {
		if err := takeFinalSnapshots(ctx, opts, claims.Items, timeout); err != nil {
			return err
		}
	} else {
		logNoSnapshot(log, opts)
	}
	var volumes []string
	for _, c := range claims.Items {
		if c.Spec.VolumeName != "" {
			volumes = append(volumes, c.Spec.VolumeName)
			if err := undoKeep(ctx, client, c.Spec.VolumeName); err != nil {
				return err
			}
		}
		err := client.CoreV1().PersistentVolumeClaims(opts.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cleanup: deleting PersistentVolumeClaim %s/%s: %w", opts.Namespace, c.Name, err)
		}
		log.Info("deleted PersistentVolumeClaim", "namespace", opts.Namespace, "claim", c.Name, "volume", c.Spec.VolumeName)
	}
	// A claim may be gone already: an earlier run timed out after deleting it, or a
	// StatefulSet deployed with whenDeleted: Delete (before the policy was always Retain)
	// had it garbage-collected. Its volume is found through its claimRef instead.
	released, err := releasedVolumes(ctx, client, opts.Namespace)
	if err != nil {
		return fmt.Errorf("cleanup: listing PersistentVolumes: %w", err)
	}
	for _, name := range released {
		if !slices.Contains(volumes, name) {
			volumes = append(volumes, name)
		}
	}
	if len(volumes) == 0 {
		log.Info("no database volumes to delete", "namespace", opts.Namespace, "selector", opts.Selector)
		return nil
	}

	log.Info("waiting for the PersistentVolumes to be deleted", "volumes", volumes, "timeout", timeout)
	// API errors while waiting (a flaky connection; near the deadline, the client's rate
	// limiter refusing to wait) are retried: only the outcome at the end counts.
	err = wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		remaining, err := existingVolumes(ctx, client, volumes)
		return err == nil && len(remaining) == 0, nil
	})
	if err == nil {
		log.Info("PersistentVolumes deleted", "volumes", volumes)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("cleanup: stopped waiting for PersistentVolumes %s: %w", strings.Join(volumes, ", "), ctx.Err())
	}
	remaining, err := existingVolumes(ctx, client, volumes)
	if err != nil {
		return fmt.Errorf("cleanup: after %s, PersistentVolumes %s could not be checked: %w", timeout, strings.Join(volumes, ", "), err)
	}
	if len(remaining) == 0 { // gone just after the deadline
		log.Info("PersistentVolumes deleted", "volumes", volumes)
		return nil
	}
	return notGoneError(ctx, client, opts, timeout, remaining)
}

// releasedVolumes names the volumes whose reclaim policy is Delete and whose claim in
// namespace no longer exists: they are about to be deleted by their driver. The
// namespace belongs to the stack, so these are the stack's volumes.
func releasedVolumes(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error) {
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, pv := range pvs.Items {
		ref := pv.Spec.ClaimRef
		if ref == nil || ref.Namespace != namespace || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		claim, err := client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			names = append(names, pv.Name)
		case err != nil:
			return nil, err
		case ref.UID != "" && claim.UID != ref.UID: // a new claim with the old name
			names = append(names, pv.Name)
		}
	}
	return names, nil
}

// existingVolumes returns those of the named PersistentVolumes that still exist.
func existingVolumes(ctx context.Context, client kubernetes.Interface, names []string) ([]*corev1.PersistentVolume, error) {
	var found []*corev1.PersistentVolume
	for _, name := range names {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			found = append(found, pv)
		}
	}
	return found, nil
}

// notGoneError explains which volumes outlived the wait and what usually keeps them.
func notGoneError(ctx context.Context, client kubernetes.Interface, opts Options, timeout time.Duration, remaining []*corev1.PersistentVolume) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cleanup: after %s these PersistentVolumes still exist:", timeout)
	for _, pv := range remaining {
		fmt.Fprintf(&b, "\n  %s: %s", pv.Name, describeVolume(pv))
	}
	// A claim still present is stuck on its kubernetes.io/pvc-protection finalizer,
	// which the controller only removes once no pod uses the claim.
	claims, err := client.CoreV1().PersistentVolumeClaims(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: opts.Selector})
	if err == nil && len(claims.Items) > 0 {
		b.WriteString("\nclaims still terminating (a pod may still use them, or a finalizer is stuck):")
		for _, c := range claims.Items {
			fmt.Fprintf(&b, "\n  %s/%s finalizers=%v", c.Namespace, c.Name, c.Finalizers)
		}
	}
	b.WriteString("\ncheck: is the CSI driver (e.g. the EBS CSI controller in kube-system) still running?" +
		" A volume with reclaimPolicy Retain is never deleted by Kubernetes: delete it and its disk by hand.")
	return errors.New(b.String())
}

// describeVolume gives the facts that decide whether and how a PersistentVolume goes away.
func describeVolume(pv *corev1.PersistentVolume) string {
	s := fmt.Sprintf("phase %s, reclaimPolicy %s", pv.Status.Phase, pv.Spec.PersistentVolumeReclaimPolicy)
	if csi := pv.Spec.CSI; csi != nil {
		s += fmt.Sprintf(", driver %s, volumeHandle %s", csi.Driver, csi.VolumeHandle)
	}
	if pv.DeletionTimestamp != nil {
		s += fmt.Sprintf(", deleting since %s, finalizers %v", pv.DeletionTimestamp.UTC().Format(time.RFC3339), pv.Finalizers)
	}
	if pv.Status.Message != "" {
		s += ", message: " + pv.Status.Message
	}
	return s
}
