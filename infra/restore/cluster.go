package restore

import (
	"context"
	"fmt"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/counter-mysql/counter-mysql/infra/cleanup"
	"github.com/counter-mysql/counter-mysql/infra/config"
)

// Cluster is the stack's cluster, where FromCluster looks (mode existing: the cluster
// outlives stacks, so its snapshots and kept volumes are there to find).
type Cluster struct {
	Kube      kubernetes.Interface
	Snapshots snapshotclient.Interface
	// Namespace is the stack's, where the claim Claim will be created.
	Namespace string
	Claim     string
	// StorageClass is the claim's class; "" means the cluster's default.
	StorageClass string
	// SnapshotName is the VolumeSnapshot the database registers for a restore: a claim
	// that already starts from it was made by this restore, in an up that stopped half-way.
	SnapshotName string
}

// defaultClassAnnotation marks the StorageClass of claims that name none.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// FromCluster finds r.Value in the cluster: an EBS snapshot id (for the driver of the
// claim's StorageClass), the name of a VolumeSnapshotContent (what a destroy leaves of a
// final snapshot), or of a VolumeSnapshot in the stack's namespace. It refuses a
// VolumeSnapshot in another namespace, naming what to set instead, and a namespace that
// has, or would bind, a volume for the claim already.
func FromCluster(ctx context.Context, c Cluster, r Request) (Source, error) {
	// The claim's dataSource is a VolumeSnapshot, whatever the value names.
	if err := cleanup.ServesSnapshots(c.Snapshots.Discovery()); err != nil {
		return Source{}, fmt.Errorf("%s %s: %w, so no volume can start from a snapshot: install the snapshot CRDs and controller "+
			"(and your CSI driver's snapshot support), or unset the setting for an empty volume", r.Setting, r.Value, err)
	}
	if err := c.noVolumeYet(ctx, r); err != nil {
		return Source{}, err
	}
	driver, err := c.provisioner(ctx, r)
	if err != nil {
		return Source{}, err
	}
	var s Source
	var size resource.Quantity
	var what string
	if config.EBSSnapshotID.MatchString(r.Value) {
		// Only the driver can tell whether it exists: the up waits for the snapshot
		// controller to check (the database's VolumeSnapshot is waited for).
		s = Source{Driver: driver, SnapshotHandle: r.Value}
	} else {
		content, err := c.content(ctx, r)
		if err != nil {
			return Source{}, err
		}
		if s, err = fromContent(r, content); err != nil {
			return Source{}, err
		}
		if content.Status != nil && content.Status.RestoreSize != nil {
			size = *resource.NewQuantity(*content.Status.RestoreSize, resource.BinarySI)
		}
		what = "VolumeSnapshotContent " + content.Name
	}
	if s.Driver != driver {
		return Source{}, fmt.Errorf("%s %s: the snapshot belongs to CSI driver %s, but the volume's StorageClass %s is provisioned by %s, "+
			"which cannot restore it: set %s to a StorageClass of %s", r.Setting, r.Value, s.Driver, c.classOrDefault(), driver,
			"counter-mysql:storageClassName", s.Driver)
	}
	if err := bigger(r, size, what); err != nil {
		return Source{}, err
	}
	return s, nil
}

func (c Cluster) classOrDefault() string {
	if c.StorageClass == "" {
		return "(the cluster's default)"
	}
	return c.StorageClass
}

// noVolumeYet refuses a restore where the claim would not be created from it: the claim
// exists (unless it is this restore's), or a volume kept by an earlier stack
// (retainVolumes) would be bound to it instead.
func (c Cluster) noVolumeYet(ctx context.Context, r Request) error {
	claim, err := c.Kube.CoreV1().PersistentVolumeClaims(c.Namespace).Get(ctx, c.Claim, metav1.GetOptions{})
	switch {
	case err == nil:
		if ds := claim.Spec.DataSource; ds != nil && ds.Kind == "VolumeSnapshot" && ds.Name == c.SnapshotName {
			return nil
		}
		return fmt.Errorf("%s %s: claim %s/%s exists already, with data not from this snapshot (an earlier stack's, or an up that stopped half-way), "+
			"and a restore only creates a volume: unset the setting to use that claim, or delete it (kubectl -n %s delete pvc %s, which deletes its data) and run the command again",
			r.Setting, r.Value, c.Namespace, c.Claim, c.Namespace, c.Claim)
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: reading claim %s/%s: %w", r.Setting, r.Value, c.Namespace, c.Claim, err)
	}
	pvs, err := c.Kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("%s %s: listing PersistentVolumes, to find a kept one: %w", r.Setting, r.Value, err)
	}
	for _, pv := range pvs.Items {
		if pv.Annotations[cleanup.KeptFromAnnotation] == c.Namespace+"/"+c.Claim && pv.Status.Phase == corev1.VolumeReleased {
			return fmt.Errorf("%s %s: PersistentVolume %s, kept by an earlier stack in namespace %s (retainVolumes), would be mounted again instead of the snapshot: "+
				"unset the setting to continue on the kept volume, or use another namespace, or delete the kept volume (kubectl delete pv %s, then its disk) and run the command again",
				r.Setting, r.Value, pv.Name, c.Namespace, pv.Name)
		}
	}
	return nil
}

// provisioner is the CSI driver of the claim's StorageClass: the one that creates the
// restored volume, and so must hold the snapshot.
func (c Cluster) provisioner(ctx context.Context, r Request) (string, error) {
	if c.StorageClass != "" {
		sc, err := c.Kube.StorageV1().StorageClasses().Get(ctx, c.StorageClass, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("%s %s: reading StorageClass %s (counter-mysql:storageClassName), whose driver restores the volume: %w", r.Setting, r.Value, c.StorageClass, err)
		}
		return sc.Provisioner, nil
	}
	list, err := c.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("%s %s: listing StorageClasses, for the default one, whose driver restores the volume: %w", r.Setting, r.Value, err)
	}
	for _, sc := range list.Items {
		if sc.Annotations[defaultClassAnnotation] == "true" {
			return sc.Provisioner, nil
		}
	}
	return "", fmt.Errorf("%s %s: the cluster has no default StorageClass to restore the volume with: set counter-mysql:storageClassName to a class of the snapshot's CSI driver",
		r.Setting, r.Value)
}

// content is the VolumeSnapshotContent that r.Value names, directly or through a
// VolumeSnapshot in the stack's namespace.
func (c Cluster) content(ctx context.Context, r Request) (*snapshotv1.VolumeSnapshotContent, error) {
	api := c.Snapshots.SnapshotV1()
	content, err := api.VolumeSnapshotContents().Get(ctx, r.Value, metav1.GetOptions{})
	if err == nil {
		return content, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s %s: reading VolumeSnapshotContent %s: %w", r.Setting, r.Value, r.Value, err)
	}
	snaps, err := api.VolumeSnapshots("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", r.Value).String()})
	if err != nil {
		return nil, fmt.Errorf("%s %s: listing VolumeSnapshots called %s: %w", r.Setting, r.Value, r.Value, err)
	}
	var elsewhere *snapshotv1.VolumeSnapshot
	for i, s := range snaps.Items {
		if s.Name != r.Value {
			continue // a client that ignores the field selector
		}
		if s.Namespace != c.Namespace {
			elsewhere = &snaps.Items[i]
			continue
		}
		if s.Status == nil || s.Status.BoundVolumeSnapshotContentName == nil {
			return nil, fmt.Errorf("%s %s: VolumeSnapshot %s/%s is bound to no content yet: wait until it is ready (kubectl -n %s get volumesnapshot %s), then run the command again",
				r.Setting, r.Value, s.Namespace, s.Name, s.Namespace, s.Name)
		}
		content, err := api.VolumeSnapshotContents().Get(ctx, *s.Status.BoundVolumeSnapshotContentName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s %s: reading VolumeSnapshotContent %s of VolumeSnapshot %s/%s: %w", r.Setting, r.Value, *s.Status.BoundVolumeSnapshotContentName, s.Namespace, s.Name, err)
		}
		return content, nil
	}
	if elsewhere != nil {
		hint := "its VolumeSnapshotContent's name once it is bound (kubectl -n " + elsewhere.Namespace + " get volumesnapshot " + elsewhere.Name + ")"
		if st := elsewhere.Status; st != nil && st.BoundVolumeSnapshotContentName != nil {
			hint = "its VolumeSnapshotContent, " + *st.BoundVolumeSnapshotContentName
		}
		return nil, fmt.Errorf("%s %s: VolumeSnapshot %s is in namespace %s, and a volume in namespace %s can only start from a snapshot in its own: set the setting to %s",
			r.Setting, r.Value, r.Value, elsewhere.Namespace, c.Namespace, hint)
	}
	return nil, fmt.Errorf("%s %s: no VolumeSnapshotContent, nor VolumeSnapshot in namespace %s, has that name: list them with kubectl get volumesnapshotcontent "+
		"(a destroy prints its final snapshot's VolumeSnapshotContent and snapshotHandle), or unset the setting for an empty volume", r.Setting, r.Value, c.Namespace)
}

// fromContent is the snapshot a content stands for, once the driver has it.
func fromContent(r Request, content *snapshotv1.VolumeSnapshotContent) (Source, error) {
	handle := ""
	if st := content.Status; st != nil && st.SnapshotHandle != nil {
		handle = *st.SnapshotHandle
	} else if content.Spec.Source.SnapshotHandle != nil {
		handle = *content.Spec.Source.SnapshotHandle
	}
	ready := content.Status != nil && content.Status.ReadyToUse != nil && *content.Status.ReadyToUse
	if handle == "" || !ready {
		return Source{}, fmt.Errorf("%s %s: VolumeSnapshotContent %s is not ready to use (snapshotHandle %q): wait until it is (kubectl get volumesnapshotcontent %s), then run the command again",
			r.Setting, r.Value, content.Name, handle, content.Name)
	}
	return Source{Driver: content.Spec.Driver, SnapshotHandle: handle}, nil
}
