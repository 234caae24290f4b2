package cleanup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// A kept volume must survive everything a destroy deletes. Two things would take it:
//   - a claim retention policy whenDeleted: Delete (which StatefulSets deployed before the
//     policy was always Retain still have) gives the claim an ownerReference, so the
//     garbage collector deletes the claim with the StatefulSet;
//   - deleting the namespace deletes every claim in it, whatever that policy says.
//
// Once its claim is gone, a volume with reclaim policy Delete (what the gp3 class gives) is
// deleted by the CSI driver with its disk. KeepVolumes therefore runs before the StatefulSet
// is deleted: it sets the volumes' reclaim policy to Retain, so they outlive their claims,
// and takes the StatefulSet's ownerReference off the claims. It marks each volume with the
// claim it belonged to, so that a later stack in the same namespace can take it back
// (AdoptVolumes); a Released volume never binds to a new claim by itself.

// KeptFromAnnotation marks a volume KeepVolumes kept, with "<namespace>/<claim>".
const KeptFromAnnotation = "counter-mysql.io/kept-from"

// KeepVolumes makes the volumes of the claims opts selects survive the claims' deletion.
// It is idempotent.
func KeepVolumes(ctx context.Context, client kubernetes.Interface, opts Options) error {
	if opts.Namespace == "" || opts.Selector == "" {
		return fmt.Errorf("cleanup: Namespace and Selector must both be set")
	}
	log := logger(opts)
	claims, err := client.CoreV1().PersistentVolumeClaims(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: opts.Selector})
	if err != nil {
		return fmt.Errorf("cleanup: listing PersistentVolumeClaims in %s (%s): %w", opts.Namespace, opts.Selector, err)
	}
	for _, c := range claims.Items {
		if c.Spec.VolumeName != "" {
			patch, _ := json.Marshal(map[string]any{
				"metadata": map[string]any{"annotations": map[string]string{KeptFromAnnotation: c.Namespace + "/" + c.Name}},
				"spec":     map[string]any{"persistentVolumeReclaimPolicy": corev1.PersistentVolumeReclaimRetain},
			})
			if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, c.Spec.VolumeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("cleanup: setting reclaimPolicy Retain on PersistentVolume %s (claim %s/%s): %w", c.Spec.VolumeName, c.Namespace, c.Name, err)
			}
		}
		var owners []metav1.OwnerReference
		for _, o := range c.OwnerReferences {
			if o.Kind != "StatefulSet" {
				owners = append(owners, o)
			}
		}
		if len(owners) != len(c.OwnerReferences) {
			// A JSON patch with a test: never drop an ownerReference added meanwhile.
			patch, _ := json.Marshal([]map[string]any{
				{"op": "test", "path": "/metadata/ownerReferences", "value": c.OwnerReferences},
				{"op": "replace", "path": "/metadata/ownerReferences", "value": owners},
			})
			if _, err := client.CoreV1().PersistentVolumeClaims(c.Namespace).Patch(ctx, c.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("cleanup: releasing claim %s/%s from its StatefulSet: %w", c.Namespace, c.Name, err)
			}
		}
		log.Info("keeping database volume: reclaimPolicy Retain, so it outlives its claim and the namespace",
			"claim", c.Namespace+"/"+c.Name, "volume", c.Spec.VolumeName)
	}
	return nil
}

// AdoptVolumes makes each volume kept from one of claims in namespace (KeepVolumes) and
// now Released bind again: its claimRef keeps the claim's name but forgets the deleted
// claim's uid, so the PV controller binds it to the claim of that name when it is created.
// It returns the volumes adopted.
func AdoptVolumes(ctx context.Context, client kubernetes.Interface, namespace string, claims []string, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cleanup: listing PersistentVolumes: %w", err)
	}
	var adopted []string
	for _, pv := range pvs.Items {
		ref := pv.Spec.ClaimRef
		if ref == nil || ref.Namespace != namespace || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Annotations[KeptFromAnnotation] != namespace+"/"+ref.Name || !slices.Contains(claims, ref.Name) {
			continue
		}
		patch, _ := json.Marshal([]map[string]any{
			{"op": "test", "path": "/spec/claimRef/uid", "value": ref.UID},
			{"op": "replace", "path": "/spec/claimRef", "value": map[string]string{
				"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": ref.Name,
			}},
		})
		if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			return adopted, fmt.Errorf("cleanup: re-binding kept PersistentVolume %s to claim %s/%s: %w", pv.Name, namespace, ref.Name, err)
		}
		log.Info("re-using the database volume kept by an earlier stack", "volume", pv.Name, "claim", namespace+"/"+ref.Name, "details", describeVolume(&pv))
		adopted = append(adopted, pv.Name)
	}
	return adopted, nil
}

func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

// undoKeep gives a volume that KeepVolumes kept (for an earlier stack, adopted since) back
// its reclaim policy Delete, so that deleting its claim deletes it.
func undoKeep(ctx context.Context, client kubernetes.Interface, name string) error {
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil || pv.Annotations[KeptFromAnnotation] == "" {
		return nil // gone, or not ours: DeleteVolumes reports what it finds
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{KeptFromAnnotation: nil}},
		"spec":     map[string]any{"persistentVolumeReclaimPolicy": corev1.PersistentVolumeReclaimDelete},
	})
	if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cleanup: setting reclaimPolicy Delete on the formerly kept PersistentVolume %s: %w", name, err)
	}
	return nil
}

// logKept reports the volumes kept for namespace, what they cost and how to get rid of
// them or use them again.
func logKept(ctx context.Context, client kubernetes.Interface, log *slog.Logger, namespace string) error {
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("cleanup: listing PersistentVolumes: %w", err)
	}
	kept := 0
	for _, pv := range pvs.Items {
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != namespace || pv.Annotations[KeptFromAnnotation] == "" {
			continue
		}
		kept++
		disk := "its disk"
		if pv.Spec.CSI != nil {
			disk = fmt.Sprintf("its disk %s (for EBS: aws ec2 delete-volume --volume-id %s)", pv.Spec.CSI.VolumeHandle, pv.Spec.CSI.VolumeHandle)
		}
		log.Info(fmt.Sprintf("kept PersistentVolume %s of claim %s (retainVolumes): it outlives this stack and stays billed. "+
			"A new stack with namespace %s mounts it again; to delete it: kubectl delete pv %s, then delete %s",
			pv.Name, pv.Annotations[KeptFromAnnotation], namespace, pv.Name, disk),
			"details", describeVolume(&pv))
	}
	if kept == 0 {
		log.Info("no database volumes to keep", "namespace", namespace)
	}
	return nil
}
