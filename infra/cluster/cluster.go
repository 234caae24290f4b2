// Package cluster provides the Kubernetes cluster everything else runs on: a new EKS
// cluster (with the IAM OIDC provider that lets pods assume IAM roles) or an existing
// cluster reached through a kubeconfig. Either way it hands out a Kubernetes provider.
package cluster

import (
	"strings"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EKSArgs sizes the EKS cluster and its default node group.
type EKSArgs struct {
	KubernetesVersion string
	InstanceType      string
	MinSize           int
	DesiredSize       int
	MaxSize           int
}

// EKS is an EKS cluster with an IAM OIDC provider, a network plugin that enforces
// NetworkPolicies, and a Kubernetes provider for it.
type EKS struct {
	pulumi.ResourceState

	// VpcCni is the Amazon VPC CNI add-on with its network policy agent switched on;
	// without it EKS accepts NetworkPolicies but enforces none.
	VpcCni *awseks.Addon
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
// component makes an encrypted gp3 class backed by the EBS CSI driver instead.
func NewEKS(ctx *pulumi.Context, name string, args *EKSArgs, opts ...pulumi.ResourceOption) (*EKS, error) {
	c := &EKS{}
	if err := ctx.RegisterComponentResource("counter-mysql:cluster:EKS", name, c, opts...); err != nil {
		return nil, err
	}
	cluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Version:            pulumi.String(args.KubernetesVersion),
		InstanceType:       pulumi.String(args.InstanceType),
		MinSize:            pulumi.Int(args.MinSize),
		DesiredCapacity:    pulumi.Int(args.DesiredSize),
		MaxSize:            pulumi.Int(args.MaxSize),
		CreateOidcProvider: pulumi.Bool(true),
		// An empty map, not nil: pulumi-eks versions that default an unset value to a
		// "gp2" default class still create nothing for an empty one.
		StorageClasses: map[string]eks.StorageClassArgs{},
		// Leave the VPC CNI that EKS installs to the add-on below, instead of pulumi-eks's
		// own manifest, which cannot enable network policies.
		UseDefaultVpcCni: pulumi.BoolRef(true),
	}, pulumi.Parent(c))
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
	oidc := cluster.Core.OidcProvider()
	c.Kubeconfig = pulumi.ToSecret(cluster.KubeconfigJson).(pulumi.StringOutput)
	c.Name = cluster.EksCluster.Name()
	c.OIDCProviderARN = oidc.Arn()
	c.OIDCIssuer = oidc.Url().ApplyT(func(url string) string { return strings.TrimPrefix(url, "https://") }).(pulumi.StringOutput)

	// Everything deployed through the provider comes after the CNI add-on and goes before
	// it: NetworkPolicies need its policy agent, and on destroy the EBS CSI controller
	// needs pod networking until the volume clean-up is done.
	c.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: c.Kubeconfig,
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{c.VpcCni}))
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
