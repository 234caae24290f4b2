// Package storageclass is the gp3 StorageClass that EKS mode creates, as a Kubernetes API
// object. Package storage registers it; the test clusters create this very object, so the
// tiers bind, grow and delete volumes the way users' clusters do (WaitForFirstConsumer
// included) instead of with a look-alike.
package storageclass

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	// Name is the class the database asks for by name in EKS mode. It is not the cluster
	// default, so nothing else lands on it by accident.
	Name = "gp3"
	// Driver is the EBS CSI driver, the class's provisioner.
	Driver = "ebs.csi.aws.com"
)

// GP3 is the class, named name (Name in EKS mode; tests sharing a cluster use others):
// encrypted gp3 volumes that can grow, deleted with their claim unless kept
// (retainVolumes re-labels the volume, not the class).
func GP3(name string) *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: name},
		Provisioner: Driver,
		Parameters: map[string]string{
			"type":                      "gp3",
			"encrypted":                 "true",
			"csi.storage.k8s.io/fstype": "ext4",
		},
		// The volume is created in the zone the pod is scheduled to, so it can attach
		// there; until then the claim stays Pending, which the program must allow for.
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowVolumeExpansion: ptr.To(true),
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimDelete),
	}
}
