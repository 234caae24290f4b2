// Package podsecurity holds the security contexts that let a pod pass the Kubernetes
// "restricted" Pod Security Standard, shared by every workload of the stack.
package podsecurity

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Level is the Pod Security Standard the namespace enforces.
const Level = "restricted"

// Pod runs every container as uid:gid id, never root, under the runtime's default seccomp
// profile. Volumes are group-owned by id, fixed only when the root's owner is wrong so a
// big volume is not walked on every start.
func Pod(id int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsUser:           pulumi.Int(id),
		RunAsGroup:          pulumi.Int(id),
		RunAsNonRoot:        pulumi.Bool(true),
		FsGroup:             pulumi.Int(id),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// Container drops every capability and privilege escalation and makes the image read-only;
// writable paths must be volumes.
func Container() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
	}
}
