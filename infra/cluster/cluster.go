// Package cluster provides the Kubernetes cluster everything else runs on: a new EKS
// cluster (with the IAM OIDC provider that lets pods assume IAM roles, and an EKS managed
// node group) or an existing cluster reached through a kubeconfig. Either way it hands
// out a Kubernetes provider.
package cluster

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/awsarn"
	"github.com/counter-mysql/counter-mysql/infra/image"
)

// EKSArgs places and sizes the EKS cluster and its node group.
type EKSArgs struct {
	KubernetesVersion string
	InstanceType      string
	MinSize           int
	DesiredSize       int
	MaxSize           int
	// VPCID and the subnets place the cluster; VPCID "" means the account's default VPC
	// (pulumi-eks looks it up and uses all its subnets).
	VPCID            string
	PublicSubnetIDs  []string
	PrivateSubnetIDs []string
	// Profile is the AWS CLI profile (aws:profile) every kubeconfig names for
	// `aws eks get-token`; "" leaves it to the environment.
	Profile string
}

// Node root volumes: the size pulumi-eks's node group had, gp3 and encrypted like the
// data volume. /dev/xvda is the root device of the EKS-optimized Amazon Linux 2023 AMIs.
const (
	rootDevice   = "/dev/xvda"
	rootVolumeGB = 20
)

// nodePolicies are the AWS-managed policies an EKS node's role needs: joining the
// cluster, the VPC CNI's ENI management, and pulling images from ECR.
var nodePolicies = []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}

// AMIType is the managed node group's Amazon Linux 2023 image for an instance type's
// architecture. AL2023, not AL2: EKS publishes no AL2 image for Kubernetes 1.33 and later.
func AMIType(instanceType string) string {
	if image.Platform(instanceType) == "linux/arm64" {
		return "AL2023_ARM_64_STANDARD"
	}
	return "AL2023_x86_64_STANDARD"
}

// HasDefaultVPC says whether the region has a default VPC, which a cluster with no VPC
// configured lands in.
func HasDefaultVPC(ctx *pulumi.Context) (bool, error) {
	vpcs, err := ec2.GetVpcs(ctx, &ec2.GetVpcsArgs{
		Filters: []ec2.GetVpcsFilter{{Name: "is-default", Values: []string{"true"}}},
	})
	if err != nil {
		return false, err
	}
	return len(vpcs.Ids) > 0, nil
}

// EKS is an EKS cluster with an IAM OIDC provider, a network plugin that enforces
// NetworkPolicies, and a Kubernetes provider for it.
type EKS struct {
	pulumi.ResourceState

	// VpcCni is the Amazon VPC CNI add-on with its network policy agent switched on;
	// without it EKS accepts NetworkPolicies but enforces none.
	VpcCni *awseks.Addon
	// Nodes is the managed node group's EKS node group (one resource), for what must be
	// created after the nodes and deleted before them.
	Nodes pulumi.ResourceArrayOutput
	// Provider deploys into the cluster.
	Provider *kubernetes.Provider
	// Kubeconfig reaches the cluster (through `aws eks get-token`); a secret.
	Kubeconfig pulumi.StringOutput
	// Name is the EKS cluster's name, which add-ons refer to.
	Name pulumi.StringOutput
	// OIDCProviderARN is the IAM OIDC provider that IAM roles for service accounts trust.
	OIDCProviderARN pulumi.StringOutput
	// OIDCIssuer is the issuer host and path (no scheme), the prefix of IAM condition keys.
	OIDCIssuer pulumi.StringOutput
}

// NewEKS creates the cluster. pulumi-eks is asked for no StorageClass: the storage
// component makes an encrypted gp3 class backed by the EBS CSI driver instead. Nor for
// its default node group: that is self-managed, on an AL2 image EKS no longer publishes
// for current versions and on a launch configuration new accounts cannot create; an EKS
// managed node group on Amazon Linux 2023 takes its place.
func NewEKS(ctx *pulumi.Context, name string, args *EKSArgs, opts ...pulumi.ResourceOption) (*EKS, error) {
	c := &EKS{}
	if err := ctx.RegisterComponentResource("counter-mysql:cluster:EKS", name, c, opts...); err != nil {
		return nil, err
	}
	role, roleArn, err := nodeRole(ctx, name+"-node", pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	clusterArgs := &eks.ClusterArgs{
		Version:              pulumi.String(args.KubernetesVersion),
		SkipDefaultNodeGroup: pulumi.BoolRef(true),
		// The cluster authenticates nodes through the aws-auth ConfigMap pulumi-eks
		// writes: it maps the roles listed here.
		InstanceRoles:      iam.RoleArray{role},
		CreateOidcProvider: pulumi.Bool(true),
		// An empty map, not nil: pulumi-eks versions that default an unset value to a
		// "gp2" default class still create nothing for an empty one.
		StorageClasses: map[string]eks.StorageClassArgs{},
		// Leave the VPC CNI that EKS installs to the add-on below, instead of pulumi-eks's
		// own manifest, which cannot enable network policies.
		UseDefaultVpcCni: pulumi.BoolRef(true),
	}
	if args.VPCID != "" {
		clusterArgs.VpcId = pulumi.String(args.VPCID)
		clusterArgs.PublicSubnetIds = stringsOrNil(args.PublicSubnetIDs)
		clusterArgs.PrivateSubnetIds = stringsOrNil(args.PrivateSubnetIDs)
	}
	if args.Profile != "" {
		// pulumi-eks's own provider (the aws-auth ConfigMap) authenticates with it too.
		clusterArgs.ProviderCredentialOpts = &eks.KubeconfigOptionsArgs{ProfileName: pulumi.String(args.Profile)}
	}
	cluster, err := eks.NewCluster(ctx, name, clusterArgs, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	c.VpcCni, err = awseks.NewAddon(ctx, name+"-vpc-cni", &awseks.AddonArgs{
		ClusterName: cluster.EksCluster.Name(),
		AddonName:   pulumi.String("vpc-cni"),
		// EKS pre-installs the plugin unmanaged; the add-on takes it over.
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ConfigurationValues:      pulumi.String(`{"enableNetworkPolicy":"true"}`),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	// The nodes start with the network policy agent configured, as eksctl orders it, and
	// with their role's policies attached. pulumi-eks builds the node group in its own
	// process, which a DependsOn on its component does not reach: the cluster name from
	// the add-on and the role ARN from after the attachments carry the order instead.
	nodes, err := newNodeGroup(ctx, name+"-nodes", cluster, c.VpcCni.ClusterName, roleArn, args, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	c.Nodes = nodes.NodeGroup.ApplyT(func(ng *awseks.NodeGroup) []pulumi.Resource {
		return []pulumi.Resource{ng}
	}).(pulumi.ResourceArrayOutput)

	oidc := cluster.Core.OidcProvider()
	// kubeconfigJson leaves the profile out (pulumi-eks issues 1207, 1426): with aws:profile
	// but no AWS_PROFILE, the provider, the destroy hooks and the exported kubeconfig
	// would call `aws eks get-token` with other credentials and get Unauthorized.
	kubeconfig := cluster.KubeconfigJson
	if args.Profile != "" {
		kubeconfig, err = cluster.GetKubeconfig(ctx, &eks.ClusterGetKubeconfigArgs{ProfileName: pulumi.String(args.Profile)})
		if err != nil {
			return nil, err
		}
	}
	c.Kubeconfig = pulumi.ToSecret(kubeconfig).(pulumi.StringOutput)
	c.Name = cluster.EksCluster.Name()
	c.OIDCProviderARN = oidc.Arn()
	c.OIDCIssuer = oidc.Url().ApplyT(func(url string) string { return strings.TrimPrefix(url, "https://") }).(pulumi.StringOutput)

	// Everything deployed through the provider comes after the CNI add-on and the nodes,
	// and goes before them: NetworkPolicies need the policy agent, pods need nodes, and on
	// destroy the EBS CSI controller needs both until the volume clean-up is done.
	c.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: c.Kubeconfig,
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{c.VpcCni}), pulumi.DependsOnInputs(c.Nodes))
	if err != nil {
		return nil, err
	}
	err = ctx.RegisterResourceOutputs(c, pulumi.Map{
		"kubeconfig":      c.Kubeconfig,
		"name":            c.Name,
		"oidcProviderArn": c.OIDCProviderARN,
		"oidcIssuer":      c.OIDCIssuer,
	})
	return c, err
}

// nodeRole is the IAM role the nodes run under, with the policies a node needs, and its
// ARN as known once the policies are attached.
func nodeRole(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (*iam.Role, pulumi.StringOutput, error) {
	none := pulumi.StringOutput{}
	trust, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "ec2.amazonaws.com"},
			"Action":    "sts:AssumeRole",
		}},
	})
	if err != nil {
		return nil, none, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("EKS nodes of the counter-mysql cluster"),
		AssumeRolePolicy: pulumi.String(string(trust)),
	}, opts...)
	if err != nil {
		return nil, none, err
	}
	attached := []any{role.Arn}
	for _, policy := range nodePolicies {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-"+policy, &iam.RolePolicyAttachmentArgs{
			Role: role.Name,
			PolicyArn: role.Arn.ApplyT(func(arn string) (string, error) {
				return awsarn.ManagedPolicy(arn, policy)
			}).(pulumi.StringOutput),
		}, opts...)
		if err != nil {
			return nil, none, err
		}
		attached = append(attached, a.ID())
	}
	arn := pulumi.All(attached...).ApplyT(func(v []any) string { return v[0].(string) }).(pulumi.StringOutput)
	return role, arn, nil
}

// newNodeGroup creates the EKS managed node group: Amazon Linux 2023 for the instance
// type's architecture, in the private subnets if any (else the public ones; else the
// cluster's), with encrypted gp3 root volumes from a launch template, which also sets the
// disk size (a node group with a launch template takes none of its own).
func newNodeGroup(ctx *pulumi.Context, name string, cluster *eks.Cluster, clusterName, roleArn pulumi.StringInput,
	args *EKSArgs, opts ...pulumi.ResourceOption,
) (*eks.ManagedNodeGroup, error) {
	template, err := ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		Description: pulumi.String("EKS nodes of the counter-mysql cluster: encrypted gp3 root volume, IMDSv2"),
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String(rootDevice),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize:          pulumi.Int(rootVolumeGB),
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		// IMDSv2 only; two hops so pods on the node network (the EBS CSI node plugin) reach it.
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(2),
		},
	}, opts...)
	if err != nil {
		return nil, err
	}
	subnets := args.PrivateSubnetIDs
	if len(subnets) == 0 {
		subnets = args.PublicSubnetIDs
	}
	return eks.NewManagedNodeGroup(ctx, name, &eks.ManagedNodeGroupArgs{
		Cluster:       cluster,
		ClusterName:   clusterName,
		NodeRoleArn:   roleArn,
		Version:       pulumi.String(args.KubernetesVersion),
		AmiType:       pulumi.String(AMIType(args.InstanceType)),
		InstanceTypes: pulumi.StringArray{pulumi.String(args.InstanceType)},
		ScalingConfig: &awseks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.MinSize),
			DesiredSize: pulumi.Int(args.DesiredSize),
			MaxSize:     pulumi.Int(args.MaxSize),
		},
		SubnetIds: stringsOrNil(subnets),
		LaunchTemplate: &awseks.NodeGroupLaunchTemplateArgs{
			Id:      template.ID(),
			Version: template.LatestVersion.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		},
	}, opts...)
}

// stringsOrNil leaves an empty list unset, so pulumi-eks applies its default.
func stringsOrNil(s []string) pulumi.StringArrayInput {
	if len(s) == 0 {
		return nil
	}
	return pulumi.ToStringArray(s)
}

// Existing is a cluster this stack did not create, reached through a kubeconfig.
type Existing struct {
	pulumi.ResourceState

	// Provider deploys into the cluster.
	Provider *kubernetes.Provider
}

// ExistingArgs reaches a cluster this stack did not create.
type ExistingArgs struct {
	// Kubeconfig is a path or the file's contents; empty means the ambient one
	// (KUBECONFIG or ~/.kube/config), as kubectl would use.
	Kubeconfig string
}

// NewExisting makes a provider for the cluster args.Kubeconfig reaches.
func NewExisting(ctx *pulumi.Context, name string, args *ExistingArgs, opts ...pulumi.ResourceOption) (*Existing, error) {
	c := &Existing{}
	if err := ctx.RegisterComponentResource("counter-mysql:cluster:Existing", name, c, opts...); err != nil {
		return nil, err
	}
	provider := &kubernetes.ProviderArgs{}
	if args.Kubeconfig != "" {
		provider.Kubeconfig = pulumi.ToSecret(pulumi.String(args.Kubeconfig)).(pulumi.StringOutput)
	}
	var err error
	if c.Provider, err = kubernetes.NewProvider(ctx, name, provider, pulumi.Parent(c)); err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{})
}
