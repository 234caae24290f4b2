package cluster_test

import (
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
	want := map[string]any{
		"version": "1.32", "instanceType": "m6i.large",
		"minSize": int64(1), "desiredCapacity": int64(3), "maxSize": int64(5),
		"createOidcProvider": true,
	}
	for k, w := range want {
		if obj[k] != w {
			t.Errorf("%s = %#v, want %#v", k, obj[k], w)
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
