package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/storage"
	"github.com/counter-mysql/counter-mysql/infra/storageclass"
)

// Names the StatefulSet controller derives from ours.
const (
	pod0   = database.StatefulSetName + "-0"
	claim0 = "data-" + pod0
)

// TestDatabaseLifecycle follows the MySQL StatefulSet through the controllers, on the
// StorageClass EKS mode renders (WaitForFirstConsumer) with the provisioner stand-in: its
// pod and claim appear, the claim is provisioned once the scheduler has placed the pod, the
// pod gets Ready on its volume and into the headless Service's endpoints under its own
// hostname, and comes back as the same identity on the same volume when deleted.
func TestDatabaseLifecycle(t *testing.T) {
	e := newEnv(t)
	d := e.render(t, nil)
	ns := d.namespace
	class := d.object(t, "StorageClass", storage.ClassName)
	if mode, _, _ := unstructured.NestedString(class.Object, "volumeBindingMode"); mode != string(storagev1.VolumeBindingWaitForFirstConsumer) {
		t.Fatalf("the stack renders StorageClass %s with binding mode %q, want WaitForFirstConsumer as storageclass.GP3", storage.ClassName, mode)
	}
	if err := kubetest.ProvisionVolumes(t.Context(), e.client, e.snaps, storageclass.GP3(storage.ClassName)); err != nil {
		t.Fatal(err)
	}
	// A claim of the class that no pod uses: a WaitForFirstConsumer class leaves it Pending.
	unused := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "unused", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To(storage.ClassName),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	e.apply(t, d)
	if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), unused, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pod := e.readyPod(t, ns, pod0, "")
	pvc := e.boundClaim(t, ns, claim0)
	if got := pvc.Annotations["volume.kubernetes.io/selected-node"]; got != pod.Spec.NodeName {
		t.Errorf("claim %s was provisioned for node %q, want the pod's node %s (WaitForFirstConsumer)", claim0, got, pod.Spec.NodeName)
	}
	pv := pvc.Spec.VolumeName
	if got := claimOf(pod, "data"); got != claim0 {
		t.Fatalf("pod %s mounts claim %q as data, want %s", pod0, got, claim0)
	}
	if u, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), unused.Name, metav1.GetOptions{}); err != nil || u.Status.Phase != corev1.ClaimPending || u.Spec.VolumeName != "" {
		t.Errorf("a claim no pod uses was bound on a WaitForFirstConsumer class: %v (%v)", u, err)
	}

	t.Run("headless Service lists the pod by hostname", func(t *testing.T) {
		eventually(t, "EndpointSlice of Service "+database.ServiceName+" lists "+pod0, func(ctx context.Context) error {
			list, err := e.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
				LabelSelector: discoveryv1.LabelServiceName + "=" + database.ServiceName,
			})
			if err != nil {
				return err
			}
			for _, s := range list.Items {
				for _, ep := range s.Endpoints {
					if ep.Hostname != nil && *ep.Hostname == pod0 && ep.TargetRef != nil && ep.TargetRef.Name == pod0 &&
						ep.Conditions.Ready != nil && *ep.Conditions.Ready {
						return nil
					}
				}
			}
			return fmt.Errorf("no ready endpoint with hostname %s in %d slices: %v", pod0, len(list.Items), list.Items)
		})
	})

	t.Run("deleted pod comes back on the same volume", func(t *testing.T) {
		if err := e.client.CoreV1().Pods(ns).Delete(t.Context(), pod0, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again := e.readyPod(t, ns, pod0, string(pod.UID))
		if got := claimOf(again, "data"); got != claim0 {
			t.Errorf("new pod mounts claim %q, want %s", got, claim0)
		}
		after := e.boundClaim(t, ns, claim0)
		if after.UID != pvc.UID || after.Spec.VolumeName != pv {
			t.Errorf("claim after the drill: uid %s volume %s; before: uid %s volume %s", after.UID, after.Spec.VolumeName, pvc.UID, pv)
		}
	})

}

// TestStatefulSetDeletionKeepsClaim: whatever retainVolumes says, deleting the StatefulSet
// (and so its pod) leaves the claim alone: only the destroy's hooks delete or keep it, and
// a StatefulSet deleted any other way (kubectl) never takes the data with it.
func TestStatefulSetDeletionKeepsClaim(t *testing.T) {
	e := newEnv(t)
	for _, retain := range []string{"false", "true"} {
		t.Run("retainVolumes "+retain, func(t *testing.T) {
			d := e.render(t, map[string]string{"retainVolumes": retain})
			ns := d.namespace
			e.createVolume(t, ns, claim0, corev1.PersistentVolumeReclaimRetain)
			e.apply(t, d)
			e.readyPod(t, ns, pod0, "")
			e.boundClaim(t, ns, claim0)

			if err := e.client.AppsV1().StatefulSets(ns).Delete(t.Context(), database.StatefulSetName, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			// The pod is garbage-collected like the claim would be: once it is gone, the
			// collector has acted on the StatefulSet's dependents.
			gone(t, "pod "+pod0, func(ctx context.Context) error {
				_, err := e.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
				return err
			})
			pvc := e.boundClaim(t, ns, claim0)
			if pvc.DeletionTimestamp != nil {
				t.Errorf("claim %s is being deleted", claim0)
			}
			if i := slices.IndexFunc(pvc.OwnerReferences, func(r metav1.OwnerReference) bool { return r.Kind == "StatefulSet" }); i >= 0 {
				t.Errorf("claim %s is owned by StatefulSet %s: it would be garbage-collected", claim0, pvc.OwnerReferences[i].Name)
			}
		})
	}
}

// claimOf returns the claim the pod mounts as volume name.
func claimOf(pod *corev1.Pod, volume string) string {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}
