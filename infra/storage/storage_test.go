package storage_test

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

func TestTrustPolicyIsExact(t *testing.T) {
	got, err := storage.TrustPolicy("arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC", "oidc.eks.eu-west-1.amazonaws.com/id/ABC")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity",` +
		`"Condition":{"StringEquals":{` +
		`"oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud":"sts.amazonaws.com",` +
		`"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":"system:serviceaccount:kube-system:ebs-csi-controller-sa"}}}]}`
	if got != want {
		t.Errorf("trust policy:\n  got  %s\n  want %s", got, want)
	}
}

func TestResources(t *testing.T) {
	rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		_, err := storage.NewEBS(ctx, "storage", &storage.Args{
			ClusterName:     pulumi.String(pulumitest.ClusterName),
			OIDCProviderARN: pulumi.String(pulumitest.OIDCProviderARN),
			OIDCIssuer:      pulumi.String(pulumitest.OIDCIssuer),
			Instance:        "counter-mysql-test",
		})
		return err
	})
	get := func(typ, name string) map[string]any {
		r, ok := rec.Get(typ, name)
		if !ok {
			t.Fatalf("no %s %s", typ, name)
		}
		return r.Object()
	}
	role := get("aws:iam/role:Role", "storage-ebs-csi")
	wantPolicy, _ := storage.TrustPolicy(pulumitest.OIDCProviderARN, pulumitest.OIDCIssuer)
	attachment := get("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "storage-ebs-csi")
	addon := get("aws:eks/addon:Addon", storage.AddonName)
	class := get("kubernetes:storage.k8s.io/v1:StorageClass", storage.ClassName)
	snapshotAddon := get("aws:eks/addon:Addon", storage.SnapshotAddonName)
	snapshotClass := get("kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass", storage.SnapshotClassName)
	checks := []struct {
		name      string
		got, want any
	}{
		{"role trust policy (principal is the cluster's OIDC provider)", role["assumeRolePolicy"], wantPolicy},
		{"attached policy", attachment["policyArn"], "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"},
		{"attached to the role", attachment["role"], "storage-ebs-csi"},
		{"add-on name", addon["addonName"], "aws-ebs-csi-driver"},
		{"add-on cluster", addon["clusterName"], pulumitest.ClusterName},
		{"add-on role", addon["serviceAccountRoleArn"], "arn:aws:iam::" + pulumitest.AccountID + ":role/storage-ebs-csi"},
		{"class name", pulumitest.Field(class, "metadata", "name"), "gp3"},
		{"provisioner", class["provisioner"], "ebs.csi.aws.com"},
		{"volume type", pulumitest.Field(class, "parameters", "type"), "gp3"},
		{"encrypted", pulumitest.Field(class, "parameters", "encrypted"), "true"},
		{"filesystem", pulumitest.Field(class, "parameters", "csi.storage.k8s.io/fstype"), "ext4"},
		{"binding", class["volumeBindingMode"], "WaitForFirstConsumer"},
		{"expansion", class["allowVolumeExpansion"], true},
		{"reclaim", class["reclaimPolicy"], "Delete"},
		{"not the default class", pulumitest.Field(class, "metadata", "annotations", "storageclass.kubernetes.io/is-default-class"), nil},
		{"snapshot add-on name", snapshotAddon["addonName"], "snapshot-controller"},
		{"snapshot add-on cluster", snapshotAddon["clusterName"], pulumitest.ClusterName},
		{"snapshot class name", pulumitest.Field(snapshotClass, "metadata", "name"), "ebs-retain"},
		{"snapshot class driver", snapshotClass["driver"], "ebs.csi.aws.com"},
		// Delete would delete the EBS snapshot with the namespace's VolumeSnapshots.
		{"snapshot class deletionPolicy", snapshotClass["deletionPolicy"], "Retain"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	// The snapshot CRDs come with the add-on; the EBS driver wants them before it starts.
	addonURN := mustGet(t, rec, "aws:eks/addon:Addon", storage.SnapshotAddonName).URN
	for _, r := range [][2]string{
		{"kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass", storage.SnapshotClassName},
		{"aws:eks/addon:Addon", storage.AddonName},
	} {
		if deps := mustGet(t, rec, r[0], r[1]).DependsOn; !slices.Contains(deps, addonURN) {
			t.Errorf("%s %s does not depend on the snapshot-controller add-on (depends on %v)", r[0], r[1], deps)
		}
	}
}

func mustGet(t *testing.T, rec *pulumitest.Recorded, typ, name string) pulumitest.Resource {
	t.Helper()
	r, ok := rec.Get(typ, name)
	if !ok {
		t.Fatalf("no %s %s", typ, name)
	}
	return r
}
