package cluster_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/cluster"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
)

func TestEKSClusterFollowsArgs(t *testing.T) {
	rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		_, err := cluster.NewEKS(ctx, "cluster", &cluster.EKSArgs{
			KubernetesVersion: "1.32", InstanceType: "m6i.large", MinSize: 1, DesiredSize: 3, MaxSize: 5,
		})
		return err
	})
	eks, ok := rec.Get("eks:index:Cluster", "cluster")
	if !ok {
		t.Fatal("no eks:index:Cluster")
	}
	obj := eks.Object()
	want := map[string]any{"version": "1.32", "createOidcProvider": true, "skipDefaultNodeGroup": true}
	for k, w := range want {
		if obj[k] != w {
			t.Errorf("%s = %#v, want %#v", k, obj[k], w)
		}
	}
	// The default node group's settings would make pulumi-eks build it after all.
	for _, k := range []string{"instanceType", "minSize", "desiredCapacity", "maxSize", "nodeRootVolumeSize"} {
		if _, set := obj[k]; set {
			t.Errorf("%s is set (%v): that sizes pulumi-eks's default node group", k, obj[k])
		}
	}
	// No network configured: pulumi-eks uses the default VPC and all its subnets.
	for _, k := range []string{"vpcId", "publicSubnetIds", "privateSubnetIds", "subnetIds"} {
		if _, set := obj[k]; set {
			t.Errorf("%s is set (%v) with no network configured", k, obj[k])
		}
	}
	// An explicit empty set: pulumi-eks must not add a (default) gp2 StorageClass.
	if classes, ok := obj["storageClasses"].(map[string]any); !ok || len(classes) != 0 {
		t.Errorf("storageClasses = %#v, want an empty map", obj["storageClasses"])
	}
	// NetworkPolicies are enforced: the VPC CNI add-on runs its network policy agent.
	if obj["useDefaultVpcCni"] != true {
		t.Errorf("useDefaultVpcCni = %#v, want true (the add-on manages the CNI)", obj["useDefaultVpcCni"])
	}
	cni, ok := rec.Get("aws:eks/addon:Addon", "cluster-vpc-cni")
	if !ok {
		t.Fatal("no vpc-cni add-on")
	}
	if c := cni.Object(); c["addonName"] != "vpc-cni" || c["clusterName"] != pulumitest.ClusterName ||
		c["configurationValues"] != `{"enableNetworkPolicy":"true"}` {
		t.Errorf("vpc-cni add-on = %v", c)
	}
	if _, ok := obj["creationRoleProvider"]; ok {
		t.Error("creationRoleProvider is set; it does not work outside Node.js")
	}
	provider, ok := rec.Get("pulumi:providers:kubernetes", "cluster")
	if !ok {
		t.Fatal("no kubernetes provider")
	}
	if kc := provider.Inputs["kubeconfig"]; !kc.IsSecret() {
		t.Errorf("provider kubeconfig is not a secret: %v", kc)
	}
	if !slices.ContainsFunc(provider.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, "::cluster-vpc-cni") }) {
		t.Errorf("the kubernetes provider does not depend on the vpc-cni add-on: %v", provider.DependsOn)
	}
}

func newEKS(t *testing.T, args cluster.EKSArgs) *pulumitest.Recorded {
	t.Helper()
	return pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		_, err := cluster.NewEKS(ctx, "cluster", &args)
		return err
	})
}

// TestManagedNodeGroup: the nodes are an EKS managed node group on Amazon Linux 2023 for
// the instance type's architecture, sized as configured, under a role of their own that
// the cluster maps, with encrypted gp3 root volumes from a launch template.
func TestManagedNodeGroup(t *testing.T) {
	rec := newEKS(t, cluster.EKSArgs{KubernetesVersion: "1.36", InstanceType: "t3.medium", MinSize: 2, DesiredSize: 3, MaxSize: 4})
	ng, ok := rec.Get("eks:index:ManagedNodeGroup", "cluster-nodes")
	if !ok {
		t.Fatal("no eks:index:ManagedNodeGroup cluster-nodes")
	}
	role, ok := rec.Get("aws:iam/role:Role", "cluster-node")
	if !ok {
		t.Fatal("no node role cluster-node")
	}
	obj := ng.Object()
	checks := map[string]any{
		"amiType":                   "AL2023_x86_64_STANDARD",
		"version":                   "1.36",
		"instanceTypes.0":           "t3.medium",
		"scalingConfig.minSize":     int64(2),
		"scalingConfig.desiredSize": int64(3),
		"scalingConfig.maxSize":     int64(4),
		"nodeRoleArn":               "arn:aws:iam::123456789012:role/cluster-node",
		"clusterName":               pulumitest.ClusterName,
		"launchTemplate.version":    "1",
	}
	for path, want := range checks {
		if got := pulumitest.Field(obj, strings.Split(path, ".")...); got != want {
			t.Errorf("node group %s = %#v, want %#v", path, got, want)
		}
	}
	// A launch template sets the disk; EKS refuses a node group that sets one as well.
	if _, set := obj["diskSize"]; set {
		t.Errorf("diskSize is set alongside the launch template: %v", obj["diskSize"])
	}
	if _, set := obj["subnetIds"]; set {
		t.Errorf("subnetIds = %v with no network configured, want the cluster's", obj["subnetIds"])
	}
	lt, ok := rec.Get("aws:ec2/launchTemplate:LaunchTemplate", "cluster-nodes")
	if !ok {
		t.Fatal("no launch template cluster-nodes")
	}
	if got := pulumitest.Field(ng.Object(), "launchTemplate", "id"); got != lt.Name+"-id" {
		t.Errorf("node group launch template = %v, want %s's id", got, lt.Name)
	}
	root := pulumitest.Field(lt.Object(), "blockDeviceMappings", "0")
	wantRoot := map[string]any{"deviceName": "/dev/xvda", "ebs": map[string]any{
		"volumeSize": int64(20), "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true",
	}}
	if !reflect.DeepEqual(root, wantRoot) {
		t.Errorf("root volume = %v, want %v", root, wantRoot)
	}
	if len(pulumitest.Field(lt.Object(), "blockDeviceMappings").([]any)) != 1 {
		t.Errorf("launch template maps more than the root device: %v", lt.Object()["blockDeviceMappings"])
	}
	// The cluster maps the node role in aws-auth, or the nodes never join.
	eks, _ := rec.Get("eks:index:Cluster", "cluster")
	if roles, _ := eks.Object()["instanceRoles"].([]any); len(roles) != 1 || roles[0] != role.URN {
		t.Errorf("cluster instanceRoles = %v, want [%s]", eks.Object()["instanceRoles"], role.URN)
	}
	var policies []string
	for _, a := range rec.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		if a.Object()["role"] == role.Name {
			policies = append(policies, a.Object()["policyArn"].(string))
		}
	}
	slices.Sort(policies)
	wantPolicies := []string{
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
		"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
	}
	if !slices.Equal(policies, wantPolicies) {
		t.Errorf("node role policies = %v, want %v", policies, wantPolicies)
	}
	// The nodes wait for the CNI add-on and their policies; everything through the
	// provider waits for the nodes (and goes before them on destroy).
	for _, dep := range []string{"::cluster-vpc-cni", "::cluster-node-AmazonEKSWorkerNodePolicy"} {
		if !slices.ContainsFunc(ng.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, dep) }) {
			t.Errorf("the node group does not depend on %s: %v", dep, ng.DependsOn)
		}
	}
	provider, _ := rec.Get("pulumi:providers:kubernetes", "cluster")
	if !slices.ContainsFunc(provider.DependsOn, func(urn string) bool {
		return strings.HasSuffix(urn, "aws:eks/nodeGroup:NodeGroup::stacktest-fixture-NodeGroup")
	}) {
		t.Errorf("the kubernetes provider does not depend on the EKS node group: %v", provider.DependsOn)
	}
}

func TestAMIType(t *testing.T) {
	for instanceType, want := range map[string]string{
		"t3.medium": "AL2023_x86_64_STANDARD", "m6i.large": "AL2023_x86_64_STANDARD", "g5.xlarge": "AL2023_x86_64_STANDARD",
		"t4g.medium": "AL2023_ARM_64_STANDARD", "m7g.large": "AL2023_ARM_64_STANDARD", "c7gn.xlarge": "AL2023_ARM_64_STANDARD",
	} {
		if got := cluster.AMIType(instanceType); got != want {
			t.Errorf("AMIType(%s) = %s, want %s", instanceType, got, want)
		}
	}
	rec := newEKS(t, cluster.EKSArgs{KubernetesVersion: "1.36", InstanceType: "m7g.large", MinSize: 1, DesiredSize: 1, MaxSize: 1})
	ng, _ := rec.Get("eks:index:ManagedNodeGroup", "cluster-nodes")
	if got := ng.Object()["amiType"]; got != "AL2023_ARM_64_STANDARD" {
		t.Errorf("Graviton node group amiType = %v", got)
	}
}

// TestConfiguredNetwork: a configured VPC goes to pulumi-eks with its subnets, and the
// nodes run in the private subnets, or the public ones when there are none.
func TestConfiguredNetwork(t *testing.T) {
	base := cluster.EKSArgs{KubernetesVersion: "1.36", InstanceType: "t3.medium", MinSize: 1, DesiredSize: 1, MaxSize: 1, VPCID: "vpc-0123456789abcdef1"}
	public, private := []string{"subnet-0000000a", "subnet-0000000b"}, []string{"subnet-0000000c", "subnet-0000000d"}
	tests := []struct {
		public, private, nodes []string
	}{
		{public, private, private},
		{nil, private, private},
		{public, nil, public},
	}
	for _, tt := range tests {
		args := base
		args.PublicSubnetIDs, args.PrivateSubnetIDs = tt.public, tt.private
		rec := newEKS(t, args)
		eks, _ := rec.Get("eks:index:Cluster", "cluster")
		ng, _ := rec.Get("eks:index:ManagedNodeGroup", "cluster-nodes")
		got := map[string]any{
			"vpcId":            eks.Object()["vpcId"],
			"publicSubnetIds":  eks.Object()["publicSubnetIds"],
			"privateSubnetIds": eks.Object()["privateSubnetIds"],
			"node subnets":     ng.Object()["subnetIds"],
		}
		want := map[string]any{
			"vpcId": "vpc-0123456789abcdef1", "publicSubnetIds": anys(tt.public), "privateSubnetIds": anys(tt.private),
			"node subnets": anys(tt.nodes),
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("public %v, private %v:\n  got  %v\n  want %v", tt.public, tt.private, got, want)
		}
	}
}

// anys is ids as the recorded inputs hold them; nil stays nil (unset).
func anys(ids []string) any {
	if ids == nil {
		return nil
	}
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// TestProfileInEveryKubeconfig: with aws:profile set, the kubeconfig the provider uses
// (and the destroy hooks and the stack output) runs `aws eks get-token` under that
// profile, and pulumi-eks's own provider is told it too.
func TestProfileInEveryKubeconfig(t *testing.T) {
	rec := newEKS(t, cluster.EKSArgs{KubernetesVersion: "1.36", InstanceType: "t3.medium", MinSize: 1, DesiredSize: 1, MaxSize: 1, Profile: "prod-admin"})
	provider, _ := rec.Get("pulumi:providers:kubernetes", "cluster")
	kubeconfig, _ := pulumitest.Plain(provider.Inputs["kubeconfig"]).(string)
	if !strings.Contains(kubeconfig, `{"name":"AWS_PROFILE","value":"prod-admin"}`) || !provider.Inputs["kubeconfig"].IsSecret() {
		t.Errorf("provider kubeconfig = %s (secret %v), want AWS_PROFILE prod-admin", kubeconfig, provider.Inputs["kubeconfig"].IsSecret())
	}
	eks, _ := rec.Get("eks:index:Cluster", "cluster")
	if got := pulumitest.Field(eks.Object(), "providerCredentialOpts", "profileName"); got != "prod-admin" {
		t.Errorf("providerCredentialOpts.profileName = %v", got)
	}
	// Without a profile, nothing asks for another kubeconfig.
	rec = newEKS(t, cluster.EKSArgs{KubernetesVersion: "1.36", InstanceType: "t3.medium", MinSize: 1, DesiredSize: 1, MaxSize: 1})
	for _, c := range rec.Calls {
		if c.Token == "eks:index:Cluster/getKubeconfig" {
			t.Errorf("getKubeconfig called without a profile: %v", c.Args)
		}
	}
	eks, _ = rec.Get("eks:index:Cluster", "cluster")
	if _, set := eks.Object()["providerCredentialOpts"]; set {
		t.Errorf("providerCredentialOpts set without a profile: %v", eks.Object()["providerCredentialOpts"])
	}
}

func TestExistingClusterProvider(t *testing.T) {
	tests := []struct {
		kubeconfig string
		wantSet    bool
	}{
		{"", false}, // ambient kubeconfig
		{"/home/me/.kube/prod", true},
	}
	for _, tt := range tests {
		rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
			_, err := cluster.NewExisting(ctx, "cluster", &cluster.ExistingArgs{Kubeconfig: tt.kubeconfig})
			return err
		})
		provider, ok := rec.Get("pulumi:providers:kubernetes", "cluster")
		if !ok {
			t.Fatal("no kubernetes provider")
		}
		kc, set := provider.Inputs["kubeconfig"]
		if set != tt.wantSet || (set && (!kc.IsSecret() || pulumitest.Plain(kc) != tt.kubeconfig)) {
			t.Errorf("kubeconfig %q: provider input = %v (set %v)", tt.kubeconfig, kc, set)
		}
	}
}
