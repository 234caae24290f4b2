package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/counter-mysql/counter-mysql/infra/cleanup"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// TestDeleteVolumes runs the destroy-time clean-up as Pulumi does: after the
// StatefulSet is deleted (its retention policy may already have had the claim
// garbage-collected), with the CSI driver modelled by a goroutine.
func TestDeleteVolumes(t *testing.T) {
	e := newEnv(t)

	t.Run("waits until the driver has deleted the volume", func(t *testing.T) {
		d, pv := e.deployDatabase(t, nil, corev1.PersistentVolumeReclaimDelete)
		e.simulateCSIDriver(t, d.namespace)
		e.deleteStatefulSet(t, d)

		err := cleanup.DeleteVolumes(t.Context(), e.client, cleanup.Options{
			Namespace: d.namespace, Selector: selector(t, d), Timeout: waitTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		// No polling here: DeleteVolumes returning means both are gone already.
		if _, err := e.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("volume %s: want NotFound, got %v", pv, err)
		}
		if _, err := e.client.CoreV1().PersistentVolumeClaims(d.namespace).Get(t.Context(), claim0, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("claim %s: want NotFound, got %v", claim0, err)
		}
	})

	t.Run("times out naming a volume nothing deletes", func(t *testing.T) {
		d, pv := e.deployDatabase(t, nil, corev1.PersistentVolumeReclaimDelete)
		e.deleteStatefulSet(t, d) // and no driver

		err := cleanup.DeleteVolumes(t.Context(), e.client, cleanup.Options{
			Namespace: d.namespace, Selector: selector(t, d), Timeout: 2 * time.Second,
		})
		if err == nil {
			t.Fatalf("DeleteVolumes succeeded although no driver deletes volume %s", pv)
		}
		for _, want := range []string{pv, "reclaimPolicy Delete", ebsDriver, "CSI driver"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q:\n%v", want, err)
			}
		}
		if _, err := e.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{}); err != nil {
			t.Errorf("volume %s: %v", pv, err)
		}
	})

	t.Run("retainVolumes deletes nothing and makes the volume outlive its claim", func(t *testing.T) {
		d, pv := e.deployDatabase(t, map[string]string{"retainVolumes": "true"}, corev1.PersistentVolumeReclaimDelete)
		e.simulateCSIDriver(t, d.namespace) // would delete the volume if its claim went
		e.deleteStatefulSet(t, d)

		var logs bytes.Buffer
		err := cleanup.DeleteVolumes(t.Context(), e.client, cleanup.Options{
			Namespace: d.namespace, Selector: selector(t, d), Retain: true,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		pvc := e.boundClaim(t, d.namespace, claim0)
		if pvc.DeletionTimestamp != nil {
			t.Errorf("claim %s is being deleted", claim0)
		}
		kept, err := e.client.CoreV1().PersistentVolumes().Get(t.Context(), pv, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("volume %s: %v", pv, err)
		}
		if kept.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
			t.Errorf("kept volume %s has reclaim policy %s: deleting the namespace would delete it", pv, kept.Spec.PersistentVolumeReclaimPolicy)
		}
		for _, want := range []string{claim0, pv, "kubectl delete pv " + pv} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log does not mention %q:\n%s", want, logs.String())
			}
		}
	})
}

// deployDatabase applies the stack with a volume of the given reclaim policy waiting
// for the database's claim, and waits until the pod runs on it.
func (e *env) deployDatabase(t *testing.T, overrides map[string]string, reclaim corev1.PersistentVolumeReclaimPolicy) (*deployment, string) {
	t.Helper()
	d := e.render(t, overrides)
	pv := e.createVolume(t, d.namespace, claim0, reclaim)
	e.apply(t, d)
	e.readyPod(t, d.namespace, pod0, "")
	e.boundClaim(t, d.namespace, claim0)
	return d, pv
}

// deleteStatefulSet deletes the StatefulSet and waits until it is gone, as Pulumi does
// before it runs the after-delete hook.
func (e *env) deleteStatefulSet(t *testing.T, d *deployment) {
	t.Helper()
	sts := e.client.AppsV1().StatefulSets(d.namespace)
	if err := sts.Delete(t.Context(), database.StatefulSetName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, "StatefulSet "+database.StatefulSetName, func(ctx context.Context) error {
		_, err := sts.Get(ctx, database.StatefulSetName, metav1.GetOptions{})
		return err
	})
}

// selector is the StatefulSet's selector, which its claims carry: what the hook passes.
func selector(t *testing.T, d *deployment) string {
	t.Helper()
	match, _, err := unstructured.NestedStringMap(d.object(t, "StatefulSet", database.StatefulSetName).Object, "spec", "selector", "matchLabels")
	if err != nil || len(match) == 0 {
		t.Fatalf("StatefulSet has no selector (%v)", err)
	}
	return k8slabels.SelectorFromSet(match).String()
}

// simulateCSIDriver deletes the namespace's released volumes, as the EBS CSI driver
// does, until t ends.
func (e *env) simulateCSIDriver(t *testing.T, namespace string) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		kubetest.DeleteReleasedVolumes(ctx, e.client, ebsDriver, 0, namespace)
	}()
	t.Cleanup(func() { cancel(); <-done })
}
