// Package storage gives an EKS cluster encrypted gp3 volumes: the EBS CSI driver add-on,
// running under an IAM role only its own service account can assume, and a StorageClass
// the database names explicitly; and snapshots of them: the snapshot-controller add-on and
// a VolumeSnapshotClass whose snapshots outlive the stack.
package storage

import (
	"encoding/json"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/awsarn"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/ownership"
	"github.com/counter-mysql/counter-mysql/infra/storageclass"
)

const (
	// ClassName is the StorageClass the database asks for by name (storageclass.GP3).
	ClassName = storageclass.Name
	// ServiceAccount is the EBS CSI controller's service account, the only subject the role trusts.
	ServiceAccount = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
	// AddonName is the EKS add-on that installs the EBS CSI driver.
	AddonName = "aws-ebs-csi-driver"
	// Driver is the EBS CSI driver's name, the class's provisioner.
	Driver = storageclass.Driver
	// SnapshotAddonName is the EKS add-on that installs the snapshot CRDs and controller.
	SnapshotAddonName = "snapshot-controller"
	// SnapshotClassName is the VolumeSnapshotClass the destroy's final snapshot uses.
	SnapshotClassName = "ebs-retain"
)

// Args ties the storage to an EKS cluster.
type Args struct {
	ClusterName     pulumi.StringInput
	OIDCProviderARN pulumi.StringInput
	// OIDCIssuer is the issuer host and path without scheme.
	OIDCIssuer pulumi.StringInput
	// Instance is the stack's app.kubernetes.io/instance label.
	Instance string
	// Nodes are what the add-ons' pods run on: the add-ons come after them (EKS waits for
	// their pods) and go before them (the driver deletes the volume on destroy). Nil: no
	// ordering, for clusters whose nodes exist already.
	Nodes pulumi.ResourceArrayInput
}

// EBS is the EBS CSI driver with its IAM role, and the gp3 StorageClass.
type EBS struct {
	pulumi.ResourceState

	Role         *iam.Role
	Addon        *awseks.Addon
	StorageClass *storagev1.StorageClass
	// SnapshotAddon installs the snapshot API; SnapshotClass (SnapshotClassName) uses it.
	SnapshotAddon *awseks.Addon
	SnapshotClass *apiextensions.CustomResource
	// ClassName is the StorageClass's name, resolved once the class exists.
	ClassName pulumi.StringOutput
}

// NewEBS creates the role, the add-on and the StorageClass.
func NewEBS(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*EBS, error) {
	s := &EBS{}
	if err := ctx.RegisterComponentResource("counter-mysql:storage:EBS", name, s, opts...); err != nil {
		return nil, err
	}
	var err error
	s.Role, err = iam.NewRole(ctx, name+"-ebs-csi", &iam.RoleArgs{
		Description: pulumi.String("EBS CSI controller of the counter-mysql EKS cluster (IRSA)"),
		AssumeRolePolicy: pulumi.All(args.OIDCProviderARN, args.OIDCIssuer).ApplyT(func(v []any) (string, error) {
			return TrustPolicy(v[0].(string), v[1].(string))
		}).(pulumi.StringOutput),
	}, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	policy, err := iam.NewRolePolicyAttachment(ctx, name+"-ebs-csi", &iam.RolePolicyAttachmentArgs{
		Role: s.Role.Name,
		PolicyArn: args.OIDCProviderARN.ToStringOutput().ApplyT(func(arn string) (string, error) {
			return awsarn.ManagedPolicy(arn, "service-role/AmazonEBSCSIDriverPolicy")
		}).(pulumi.StringOutput),
	}, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	// The snapshot add-on needs no IAM of its own: the EBS CSI driver's csi-snapshotter
	// sidecar calls EC2, and AmazonEBSCSIDriverPolicy allows ec2:CreateSnapshot on volumes,
	// ec2:CreateTags on new snapshots and ec2:DescribeSnapshots (AWS managed policy
	// reference, read 2026-12-01).
	afterNodes := []pulumi.ResourceOption{pulumi.Parent(s)}
	if args.Nodes != nil {
		afterNodes = append(afterNodes, pulumi.DependsOnInputs(args.Nodes))
	}
	s.SnapshotAddon, err = awseks.NewAddon(ctx, SnapshotAddonName, &awseks.AddonArgs{
		ClusterName: args.ClusterName,
		AddonName:   pulumi.String(SnapshotAddonName),
	}, afterNodes...)
	if err != nil {
		return nil, err
	}
	s.Addon, err = awseks.NewAddon(ctx, AddonName, &awseks.AddonArgs{
		ClusterName:           args.ClusterName,
		AddonName:             pulumi.String(AddonName),
		ServiceAccountRoleArn: s.Role.Arn,
	}, append(afterNodes,
		// The controller needs its permissions from its first start, and the EBS CSI
		// driver's install guide wants the snapshot CRDs installed before the driver.
		pulumi.DependsOn([]pulumi.Resource{policy, s.SnapshotAddon}))...)
	if err != nil {
		return nil, err
	}
	meta := labels.App{Name: "ebs-" + ClassName, Instance: args.Instance, Component: "storage"}
	class := storageclass.GP3(ClassName)
	s.StorageClass, err = storagev1.NewStorageClass(ctx, ClassName, &storagev1.StorageClassArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(class.Name),
			Labels:      pulumi.ToStringMap(meta.All()),
			Annotations: ownership.Annotations(nil),
		},
		Provisioner:          pulumi.String(class.Provisioner),
		Parameters:           pulumi.ToStringMap(class.Parameters),
		VolumeBindingMode:    pulumi.StringPtr(string(*class.VolumeBindingMode)),
		AllowVolumeExpansion: pulumi.BoolPtrFromPtr(class.AllowVolumeExpansion),
		ReclaimPolicy:        pulumi.StringPtr(string(*class.ReclaimPolicy)),
	}, pulumi.Parent(s), pulumi.DependsOn([]pulumi.Resource{s.Addon}))
	if err != nil {
		return nil, err
	}
	s.ClassName = s.StorageClass.Metadata.Name().Elem()
	snapMeta := labels.App{Name: SnapshotClassName, Instance: args.Instance, Component: "storage"}
	s.SnapshotClass, err = apiextensions.NewCustomResource(ctx, SnapshotClassName, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("snapshot.storage.k8s.io/v1"),
		Kind:       pulumi.String("VolumeSnapshotClass"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(SnapshotClassName),
			Labels:      pulumi.ToStringMap(snapMeta.All()),
			Annotations: ownership.Annotations(nil),
		},
		OtherFields: kubernetes.UntypedArgs{
			"driver": pulumi.String(Driver),
			// Retain: the EBS snapshot outlives its VolumeSnapshot, which the namespace's
			// deletion takes, and so the stack.
			"deletionPolicy": pulumi.String("Retain"),
		},
	}, pulumi.Parent(s), pulumi.DependsOn([]pulumi.Resource{s.SnapshotAddon})) // its CRD comes with the add-on
	if err != nil {
		return nil, err
	}
	err = ctx.RegisterResourceOutputs(s, pulumi.Map{
		"roleArn":   s.Role.Arn,
		"className": s.ClassName,
	})
	return s, err
}

// TrustPolicy lets only the EBS CSI controller's service account, presenting a token of
// the cluster's OIDC provider meant for STS, assume the role.
func TrustPolicy(oidcProviderARN, issuer string) (string, error) {
	type statement struct {
		Effect    string
		Principal map[string]string
		Action    string
		Condition map[string]map[string]string
	}
	doc := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{{
			Effect:    "Allow",
			Principal: map[string]string{"Federated": oidcProviderARN},
			Action:    "sts:AssumeRoleWithWebIdentity",
			Condition: map[string]map[string]string{"StringEquals": {
				issuer + ":sub": ServiceAccount,
				issuer + ":aud": "sts.amazonaws.com",
			}},
		}},
	}
	b, err := json.Marshal(doc)
	return string(b), err
}
