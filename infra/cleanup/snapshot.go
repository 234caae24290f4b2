package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
)

// The final snapshot is what RDS calls it: a copy of the data taken when the database is
// deleted. It is a VolumeSnapshot of each claim, taken before the claim is deleted and
// waited for until readyToUse, so no data is gone before its copy exists. Its
// VolumeSnapshotContent has deletionPolicy Retain: the namespace's deletion takes the
// VolumeSnapshot, the content and the cloud snapshot stay.
//
// Every run takes a new one, even if an earlier, failed run left one: the earlier one may
// be older than the data (a `pulumi up` in between), and a second EBS snapshot of the same
// volume costs only the blocks changed since, so nothing is gained by re-using it.

// FinalSnapshotOfLabel marks a final snapshot with the claim it copies.
const FinalSnapshotOfLabel = "counter-mysql.io/final-snapshot-of"

// snapshotCost is what an EBS snapshot costs, for the messages.
const snapshotCost = "for EBS roughly 0.05 USD per GB-month of changed blocks (us-east-1)"

// snapshotGroupVersion is the API the final snapshot needs.
const snapshotGroupVersion = "snapshot.storage.k8s.io/v1"

// takeFinalSnapshots snapshots each claim and waits until every snapshot is ready to use.
func takeFinalSnapshots(ctx context.Context, opts Options, claims []corev1.PersistentVolumeClaim, timeout time.Duration) error {
	log := logger(opts)
	var bound []corev1.PersistentVolumeClaim
	for _, c := range claims {
		switch {
		case c.DeletionTimestamp != nil:
			// An earlier run deleted it, after its snapshot was ready.
			log.Info("no final snapshot of a claim already being deleted", "claim", c.Namespace+"/"+c.Name)
		case c.Spec.VolumeName == "":
			log.Info("no final snapshot of a claim without a volume (no data)", "claim", c.Namespace+"/"+c.Name)
		default:
			bound = append(bound, c)
		}
	}
	if len(bound) == 0 {
		return nil
	}
	if opts.Snapshots == nil {
		return errors.New("cleanup: FinalSnapshot needs Options.Snapshots")
	}
	if err := ServesSnapshots(opts.Snapshots.Discovery()); err != nil {
		return fmt.Errorf("cleanup: cannot take a final snapshot of the MySQL volume, so the claim is not deleted: %w; "+
			"install the snapshot CRDs and controller (EKS: the snapshot-controller add-on) and a VolumeSnapshotClass for the volume's CSI driver, "+
			"or set %s false to delete the volume without a copy; then run `pulumi destroy --run-program` again", err, opts.FinalSnapshotSetting)
	}
	stamp := time.Now().UTC().Format("20060102150405")
	var taken []*snapshotv1.VolumeSnapshot
	for _, c := range bound {
		s, err := createSnapshot(ctx, opts, c, stamp)
		if err != nil {
			return err
		}
		log.Info("taking a final snapshot before the claim is deleted", "volumeSnapshot", c.Namespace+"/"+s.Name, "claim", c.Name,
			"class", classOrDefault(s.Spec.VolumeSnapshotClassName), "timeout", timeout)
		taken = append(taken, s)
	}
	for _, s := range taken {
		ready, err := waitReady(ctx, opts.Snapshots, s, timeout)
		if err != nil {
			return err
		}
		content, err := retainContent(ctx, opts.Snapshots, *ready.Status.BoundVolumeSnapshotContentName)
		if err != nil {
			return err
		}
		handle := ""
		if content.Status != nil && content.Status.SnapshotHandle != nil {
			handle = *content.Status.SnapshotHandle
		}
		log.Info(fmt.Sprintf("final snapshot ready: VolumeSnapshot %s/%s of claim %s, VolumeSnapshotContent %s, snapshotHandle %s. "+
			"It outlives this stack (deletionPolicy Retain) and is billed until you delete it (%s): "+
			"kubectl delete volumesnapshotcontent %s, then delete the snapshot (for EBS: aws ec2 delete-snapshot --snapshot-id %s)",
			s.Namespace, s.Name, *s.Spec.Source.PersistentVolumeClaimName, content.Name, handle, snapshotCost, content.Name, handle),
			"volumeSnapshotContent", content.Name, "snapshotHandle", handle)
	}
	return nil
}

// ServesSnapshots says why the cluster cannot take a VolumeSnapshot, or nil if it can.
func ServesSnapshots(d discovery.DiscoveryInterface) error {
	resources, err := d.ServerResourcesForGroupVersion(snapshotGroupVersion)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the cluster does not serve %s (no snapshot CRDs installed)", snapshotGroupVersion)
	}
	if err != nil {
		return fmt.Errorf("discovering %s: %w", snapshotGroupVersion, err)
	}
	for _, r := range resources.APIResources {
		if r.Name == "volumesnapshots" {
			return nil
		}
	}
	return fmt.Errorf("the cluster serves %s without volumesnapshots", snapshotGroupVersion)
}

func createSnapshot(ctx context.Context, opts Options, c corev1.PersistentVolumeClaim, stamp string) (*snapshotv1.VolumeSnapshot, error) {
	s := &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{
			Name:      c.Name + "-final-" + stamp,
			Namespace: c.Namespace,
			Labels:    map[string]string{FinalSnapshotOfLabel: c.Name},
		},
		Spec: snapshotv1.VolumeSnapshotSpec{Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: &c.Name}},
	}
	if opts.SnapshotClass != "" {
		s.Spec.VolumeSnapshotClassName = &opts.SnapshotClass
	}
	api := opts.Snapshots.SnapshotV1().VolumeSnapshots(c.Namespace)
	created, err := api.Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) { // a run within the same second
		created, err = api.Get(ctx, s.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("cleanup: creating the final VolumeSnapshot %s/%s of claim %s: %w", c.Namespace, s.Name, c.Name, err)
	}
	return created, nil
}

// waitReady waits until the snapshot is ready to use; on time-out the error names it and
// says what the snapshot controller last reported.
func waitReady(ctx context.Context, client snapshotclient.Interface, s *snapshotv1.VolumeSnapshot, timeout time.Duration) (*snapshotv1.VolumeSnapshot, error) {
	api := client.SnapshotV1().VolumeSnapshots(s.Namespace)
	last := s
	// API errors and the controller's transient errors are retried: only the end counts.
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := api.Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		st := got.Status
		return st != nil && st.ReadyToUse != nil && *st.ReadyToUse && st.BoundVolumeSnapshotContentName != nil, nil
	})
	if err == nil {
		return last, nil
	}
	return nil, fmt.Errorf("cleanup: the final VolumeSnapshot %s/%s of claim %s was not ready to use after %s (%s), so the claim is not deleted: "+
		"check the snapshot controller and the CSI driver's csi-snapshotter (kubectl describe volumesnapshot -n %s %s), "+
		"raise the timeout if the first snapshot of a large volume is only slow, and run `pulumi destroy --run-program` again",
		s.Namespace, s.Name, *s.Spec.Source.PersistentVolumeClaimName, timeout, describeSnapshot(last), s.Namespace, s.Name)
}

// describeSnapshot gives the status that explains why a snapshot is not ready.
func describeSnapshot(s *snapshotv1.VolumeSnapshot) string {
	st := s.Status
	if st == nil {
		return "no status: no snapshot controller has seen it"
	}
	var parts []string
	if st.BoundVolumeSnapshotContentName != nil {
		parts = append(parts, "content "+*st.BoundVolumeSnapshotContentName)
	} else {
		parts = append(parts, "no content bound")
	}
	parts = append(parts, fmt.Sprintf("readyToUse %v", st.ReadyToUse != nil && *st.ReadyToUse))
	if st.Error != nil && st.Error.Message != nil {
		parts = append(parts, "error: "+*st.Error.Message)
	}
	return strings.Join(parts, ", ")
}

// retainContent makes the snapshot's content outlive the VolumeSnapshot, whatever its
// class said: the namespace's deletion takes the VolumeSnapshot, and with deletionPolicy
// Delete the cloud snapshot with it.
func retainContent(ctx context.Context, client snapshotclient.Interface, name string) (*snapshotv1.VolumeSnapshotContent, error) {
	api := client.SnapshotV1().VolumeSnapshotContents()
	content, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cleanup: reading VolumeSnapshotContent %s of the final snapshot: %w", name, err)
	}
	if content.Spec.DeletionPolicy == snapshotv1.VolumeSnapshotContentRetain {
		return content, nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"deletionPolicy": snapshotv1.VolumeSnapshotContentRetain}})
	content, err = api.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("cleanup: setting deletionPolicy Retain on VolumeSnapshotContent %s, so the final snapshot outlives the namespace: %w", name, err)
	}
	return content, nil
}

func classOrDefault(class *string) string {
	if class == nil {
		return "(the cluster's default)"
	}
	return *class
}

// logNoSnapshot says that the volume goes without a copy, and how to keep one next time.
func logNoSnapshot(log *slog.Logger, opts Options) {
	log.Info(fmt.Sprintf("no final snapshot (%s is false): the MySQL volume is deleted without a copy", opts.FinalSnapshotSetting),
		"namespace", opts.Namespace)
}
