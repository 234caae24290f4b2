package nodetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/storageclass"
)

// StorageClass is EKS mode's gp3 class as the stack renders it (WaitForFirstConsumer,
// reclaim Delete, provisioner ebs.csi.aws.com), which the node's volume stand-in serves.
const StorageClass = "nodetest-gp3"

// startVolumes plays the EBS CSI driver for StorageClass with directories on this
// machine: a claim gets, once the scheduler has placed its pod, a local volume on the node
// (a directory of its own, which the kubelet mounts into the pod and hands to the pod's
// fsGroup, as it does an EBS volume's file system), and a released volume with reclaim
// policy Delete loses its directory, then its PersistentVolume. Both run until the test
// binary exits.
func (n *Node) startVolumes() error {
	ctx := context.Background()
	class := storageclass.GP3(StorageClass)
	if err := kubetest.ProvisionVolumesAs(ctx, n.Cluster.Client, nil, class, n.localVolume); err != nil {
		return fmt.Errorf("creating StorageClass %s: %w", StorageClass, err)
	}
	go kubetest.DeleteReleasedVolumesAs(ctx, n.Cluster.Client, class.Provisioner, 0, n.deleteLocalVolume)
	return nil
}

// VolumeDir is the directory behind PersistentVolume pv, if the node's stand-in made it.
func VolumeDir(pv *corev1.PersistentVolume) string {
	if pv.Spec.Local == nil {
		return ""
	}
	return pv.Spec.Local.Path
}

func (n *Node) localVolume(c *corev1.PersistentVolumeClaim, node string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error) {
	if node != NodeName {
		return corev1.PersistentVolumeSource{}, nil, fmt.Errorf("claim %s/%s: pod placed on %q, not on %s", c.Namespace, c.Name, node, NodeName)
	}
	dir := n.path("volumes", "pvc-"+string(c.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return corev1.PersistentVolumeSource{}, nil, err
	}
	affinity := &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{NodeName}}},
	}}}}
	return corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}}, affinity, nil
}

func (n *Node) deleteLocalVolume(pv *corev1.PersistentVolume) error {
	dir := VolumeDir(pv)
	if dir == "" || filepath.Dir(dir) != n.path("volumes") {
		return nil // not a directory of ours: nothing to delete
	}
	return os.RemoveAll(dir)
}
