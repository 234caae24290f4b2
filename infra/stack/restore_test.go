package stack_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

const (
	snapshotContentType = "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotContent"
	snapshotType        = "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshot"
	getSnapshot         = "aws:ebs/getSnapshot:getSnapshot"
	ebsSnapshot         = "snap-0123456789abcdef0" // completed, 20 GiB (pulumitest.EBSSnapshots)
)

// An EKS stack restored from an EBS snapshot: a pre-provisioned VolumeSnapshot in the
// namespace, bound to a Retain content for the snapshot, is the claim's dataSource, and
// the StatefulSet waits for it.
func TestRestoreFromEBSSnapshot(t *testing.T) {
	rec := stacktest.MustRun(t, map[string]string{"restoreFromSnapshot": ebsSnapshot})
	if !lookedUp(rec) {
		t.Errorf("the snapshot was not looked up in EC2 (calls %v)", rec.Calls)
	}
	contents, snaps := rec.ByType(snapshotContentType), rec.ByType(snapshotType)
	if len(contents) != 1 || len(snaps) != 1 {
		t.Fatalf("%d VolumeSnapshotContents and %d VolumeSnapshots registered, want one each", len(contents), len(snaps))
	}
	content, snap := contents[0].Object(), snaps[0].Object()
	for _, f := range []struct {
		got  any
		want string
		what string
	}{
		{pulumitest.Field(content, "spec", "deletionPolicy"), "Retain", "content deletionPolicy (a destroy must never delete the source)"},
		{pulumitest.Field(content, "spec", "driver"), storage.Driver, "content driver"},
		{pulumitest.Field(content, "spec", "source", "snapshotHandle"), ebsSnapshot, "content snapshotHandle"},
		{pulumitest.Field(content, "spec", "volumeSnapshotRef", "name"), database.RestoreSnapshotName, "content's VolumeSnapshot"},
		{pulumitest.Field(content, "spec", "volumeSnapshotRef", "namespace"), "counter", "content's VolumeSnapshot namespace"},
		{pulumitest.Field(snap, "metadata", "name"), database.RestoreSnapshotName, "VolumeSnapshot name"},
		{pulumitest.Field(snap, "metadata", "namespace"), "counter", "VolumeSnapshot namespace"},
		{pulumitest.Field(snap, "spec", "source", "volumeSnapshotContentName"), "mysql-restore", "VolumeSnapshot's content (the mock names it after the resource)"},
		{pulumitest.Field(snap, "metadata", "annotations", "pulumi.com/waitFor"), "jsonpath={.status.readyToUse}=true", "VolumeSnapshot waited for"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, want %s", f.what, f.got, f.want)
		}
	}
	sts, _ := rec.Get("kubernetes:apps/v1:StatefulSet", "mysql")
	ds := pulumitest.Field(sts.Object(), "spec", "volumeClaimTemplates", "0", "spec", "dataSource")
	want := map[string]any{"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": database.RestoreSnapshotName}
	if !reflect.DeepEqual(ds, want) {
		t.Errorf("claim template dataSource = %v, want %v", ds, want)
	}
	if !slices.Contains(sts.DependsOn, snaps[0].URN) {
		t.Errorf("the StatefulSet does not wait for the VolumeSnapshot: %v", sts.DependsOn)
	}
	// Both specs are immutable: a new source replaces them, the fixed-name snapshot first.
	if !slices.Equal(contents[0].ReplaceOnChanges, []string{"spec"}) || !slices.Equal(snaps[0].ReplaceOnChanges, []string{"spec"}) || !snaps[0].DeleteBeforeReplace {
		t.Errorf("replaceOnChanges %v and %v, deleteBeforeReplace %v: want a new spec to replace both, the VolumeSnapshot deleted first",
			contents[0].ReplaceOnChanges, snaps[0].ReplaceOnChanges, snaps[0].DeleteBeforeReplace)
	}
	// Their CRDs come with the snapshot-controller add-on.
	for _, r := range []pulumitest.Resource{contents[0], snaps[0]} {
		if !slices.ContainsFunc(r.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, "aws:eks/addon:Addon::snapshot-controller") }) {
			t.Errorf("%s does not depend on the snapshot-controller add-on: %v", r.Type, r.DependsOn)
		}
	}
}

// lookedUp says whether the program asked EC2 for a snapshot.
func lookedUp(rec *pulumitest.Recorded) bool {
	return slices.ContainsFunc(rec.Calls, func(c pulumi.MockCallArgs) bool { return c.Token == getSnapshot })
}

// wantRefused fails t unless the run was refused, saying each of wants, before it
// registered anything.
func wantRefused(t *testing.T, rec *pulumitest.Recorded, err error, wants []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	if len(rec.Resources) != 0 {
		t.Errorf("registered %d resources before refusing", len(rec.Resources))
	}
}

// Without the setting the volume starts empty: no snapshot objects, no dataSource, and no
// lookup.
func TestNoRestoreByDefault(t *testing.T) {
	rec := stacktest.MustRun(t, nil)
	if n := len(rec.ByType(snapshotContentType)) + len(rec.ByType(snapshotType)); n != 0 {
		t.Errorf("%d snapshot objects registered without restoreFromSnapshot", n)
	}
	sts, _ := rec.Get("kubernetes:apps/v1:StatefulSet", "mysql")
	if ds := pulumitest.Field(sts.Object(), "spec", "volumeClaimTemplates", "0", "spec", "dataSource"); ds != nil {
		t.Errorf("claim template has a dataSource: %v", ds)
	}
	if lookedUp(rec) {
		t.Error("an EBS snapshot was looked up without restoreFromSnapshot")
	}
}

// Bad restore sources are refused before anything is registered, naming the setting.
func TestRestoreRefusedAtPreview(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]string
		want   []string
	}{
		{"unknown snapshot", map[string]string{"restoreFromSnapshot": "snap-0000000000000000f"},
			[]string{"counter-mysql:restoreFromSnapshot snap-0000000000000000f", "no such EBS snapshot", "aws ec2 describe-snapshots --snapshot-ids snap-0000000000000000f"}},
		{"snapshot not completed", map[string]string{"restoreFromSnapshot": "snap-0123456789abcdef1"},
			[]string{"counter-mysql:restoreFromSnapshot snap-0123456789abcdef1", "is pending, not completed", "aws ec2 wait snapshot-completed"}},
		{"volume too small", map[string]string{"restoreFromSnapshot": "snap-0123456789abcdef2"},
			[]string{"counter-mysql:mysqlStorageSize 20Gi is smaller than", "(100Gi)", "set counter-mysql:mysqlStorageSize to 100Gi or more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := stacktest.Run(stacktest.Config(tc.config))
			wantRefused(t, rec, err, tc.want)
		})
	}
	// A bigger volume takes the 100 GiB snapshot.
	if _, err := stacktest.Run(stacktest.Config(map[string]string{"restoreFromSnapshot": "snap-0123456789abcdef2", "mysqlStorageSize": "100Gi"})); err != nil {
		t.Errorf("a 100Gi volume refused a 100 GiB snapshot: %v", err)
	}
}

// The setting is read when the volume is created: a deployed stack keeps its origin, is
// never looked up again (the source may be deleted since), and refuses a change either way.
func TestRestoreIsReadOnlyWhenTheVolumeIsCreated(t *testing.T) {
	restored := map[string]any{"mysqlVersion": "8.4", "mysqlStorageSize": "20Gi",
		"restoredFromSnapshot": map[string]any{"source": "snap-0123456789abcdef9", "driver": storage.Driver, "snapshotHandle": "snap-0123456789abcdef9"}}
	empty := map[string]any{"mysqlVersion": "8.4", "mysqlStorageSize": "20Gi"}

	// snap-…9 is no longer in the account: a deployed stack does not look it up.
	rec, err := stacktest.RunDeployed(stacktest.Config(map[string]string{"restoreFromSnapshot": "snap-0123456789abcdef9"}), restored)
	if err != nil {
		t.Fatalf("a restored stack's next up: %v", err)
	}
	if lookedUp(rec) {
		t.Error("a deployed stack looked its snapshot up again")
	}
	if c := rec.ByType(snapshotContentType); len(c) != 1 || pulumitest.Field(c[0].Object(), "spec", "source", "snapshotHandle") != "snap-0123456789abcdef9" {
		t.Errorf("the restored stack's content is not kept as deployed: %v", c)
	}

	for _, tc := range []struct {
		name     string
		value    string
		deployed map[string]any
		want     []string
	}{
		{"set on a stack that started empty", ebsSnapshot, empty,
			[]string{"counter-mysql:restoreFromSnapshot \"" + ebsSnapshot + "\"", "volume exists already (it started empty)", "pulumi config rm counter-mysql:restoreFromSnapshot"}},
		{"unset on a restored stack", "", restored,
			[]string{"counter-mysql:restoreFromSnapshot unset", "it started from snap-0123456789abcdef9", "pulumi config set counter-mysql:restoreFromSnapshot snap-0123456789abcdef9"}},
		{"changed on a restored stack", ebsSnapshot, restored,
			[]string{"only read when the volume is created", "restore into a new stack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := stacktest.RunDeployed(stacktest.Config(map[string]string{"restoreFromSnapshot": tc.value}), tc.deployed)
			wantRefused(t, rec, err, tc.want)
		})
	}
}
