package enginetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRetainVolumes destroys a stack for every combination of the retainVolumes applied by
// the last up and the one set at destroy time: the setting at destroy time decides, a kept
// volume survives the whole destroy (the namespace and its claim included) while the CSI
// driver deletes whatever is released with reclaim policy Delete, and a new stack in the
// same namespace mounts it.
func TestRetainVolumes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct{ applied, atDestroy bool }{
		{false, false}, {false, true}, {true, false}, {true, true},
	} {
		t.Run(fmt.Sprintf("applied %v, at destroy %v", tc.applied, tc.atDestroy), func(t *testing.T) {
			t.Parallel() // a stack and a namespace of its own
			// No final snapshot: TestLifecycle takes one; here the opt-out is seen.
			s := w.newStack(t, map[string]string{"retainVolumes": strconv.FormatBool(tc.applied), "finalSnapshot": "false"})
			s.MustUp(t)
			claim, pv := s.claimVolume(t)
			handle := volumeHandle(t, w, pv)

			s.SetConfig(t, map[string]string{"retainVolumes": strconv.FormatBool(tc.atDestroy)})
			w.deleteReleasedVolumes(t, s.namespace, 0)
			out, err := s.RunDestroy(t, true)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.atDestroy {
				_, err := w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
				notFound(t, "volume "+pv+" after destroy with retainVolumes false", err)
				mustContain(t, "destroy output", out, claim0, pv, "no final snapshot (counter-mysql:finalSnapshot is false)")
				if left := w.finalSnapshots(t, s.namespace); len(left) > 0 {
					t.Errorf("finalSnapshot false, yet snapshots were taken: %v", left)
				}
				return
			}

			// Kept: still there once the namespace is gone and the driver had its chance.
			waitNamespaceGone(t, w, s.namespace)
			time.Sleep(time.Second) // ten rounds of the driver stand-in
			kept, err := w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("kept volume %s after destroy: %v", pv, err)
			}
			if kept.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
				t.Errorf("kept volume %s has reclaim policy %s, want Retain", pv, kept.Spec.PersistentVolumeReclaimPolicy)
			}
			if kept.Spec.CSI.VolumeHandle != handle {
				t.Errorf("kept volume's disk changed: %s -> %s", handle, kept.Spec.CSI.VolumeHandle)
			}
			mustContain(t, "destroy output", out, pv, handle, "kubectl delete pv "+pv)

			// A new stack in the same namespace binds the kept volume.
			next := w.newStack(t, map[string]string{"namespace": s.namespace, "retainVolumes": "false"})
			next.MustUp(t)
			again, bound := next.claimVolume(t)
			if bound != pv {
				t.Errorf("the new stack's claim bound %s, want the kept volume %s", bound, pv)
			}
			if again.UID == claim.UID {
				t.Errorf("the new stack's claim is the old one (uid %s)", claim.UID)
			}
		})
	}
}

// TestFailedDestroyCleansUpOnRetry: the volume clean-up times out while nothing deletes the
// volume; the destroy stops, and the retried destroy still waits for the volume before it
// deletes what the volume's deletion needs (in EKS mode the CSI driver and the cluster).
//
// The one scenario on a class that binds Immediately (the API's default mode), so the
// program is seen to work on both kinds.
func TestFailedDestroyCleansUpOnRetry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, map[string]string{"volumeCleanupTimeout": "5s", "storageClassName": immediateClass})
	s.MustUp(t)
	_, pv := s.claimVolume(t)

	out, err := s.RunDestroy(t, true)
	if err == nil {
		t.Fatal("destroy succeeded although nothing deleted volume " + pv)
	}
	mustContain(t, "failed destroy", err.Error()+out, pv, "CSI driver")
	if _, err := w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{}); err != nil {
		t.Fatalf("volume %s after the failed destroy: %v", pv, err)
	}

	// The driver is back, and slow: longer than the rest of the destroy takes (the
	// namespace's deletion, ~5 s), so only a retry that waits sees the volume go. The user
	// gives the clean-up more time, as the error suggests.
	const driverDelay = 15 * time.Second
	s.SetConfig(t, map[string]string{"volumeCleanupTimeout": "2m"})
	w.deleteReleasedVolumes(t, s.namespace, driverDelay)
	start := time.Now()
	if _, err := s.RunDestroy(t, true); err != nil {
		t.Fatal(err)
	}
	_, err = w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
	notFound(t, fmt.Sprintf("volume %s right after the retried destroy (%s; the driver takes %s)", pv, time.Since(start).Round(time.Second), driverDelay), err)
}

func volumeHandle(t *testing.T, w *world, pv string) string {
	t.Helper()
	v, err := w.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return v.Spec.CSI.VolumeHandle
}

func waitNamespaceGone(t *testing.T, w *world, ns string) {
	t.Helper()
	eventually(t, "namespace "+ns+" deleted", func(ctx context.Context) error {
		_, err := w.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		if strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	})
}
