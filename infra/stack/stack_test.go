package stack_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// Resources of the default stack, by component; every variant is built from these.
var (
	eksCluster = []string{
		"counter-mysql:cluster:EKS cluster",
		"aws:iam/role:Role cluster-node",
		"aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-node-AmazonEKSWorkerNodePolicy",
		"aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-node-AmazonEKS_CNI_Policy",
		"aws:iam/rolePolicyAttachment:RolePolicyAttachment cluster-node-AmazonEC2ContainerRegistryReadOnly",
		"eks:index:Cluster cluster",
		"aws:eks/addon:Addon cluster-vpc-cni",
		"aws:ec2/launchTemplate:LaunchTemplate cluster-nodes",
		"eks:index:ManagedNodeGroup cluster-nodes",
		"pulumi:providers:kubernetes cluster",
	}
	ebsStorage = []string{
		"counter-mysql:storage:EBS storage",
		"aws:iam/role:Role storage-ebs-csi",
		"aws:iam/rolePolicyAttachment:RolePolicyAttachment storage-ebs-csi",
		"aws:eks/addon:Addon aws-ebs-csi-driver",
		"kubernetes:storage.k8s.io/v1:StorageClass gp3",
		"aws:eks/addon:Addon snapshot-controller",
		"kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass ebs-retain",
	}
	existingCluster = []string{
		"counter-mysql:cluster:Existing cluster",
		"pulumi:providers:kubernetes cluster",
	}
	mysql = []string{
		"counter-mysql:database:MySQL mysql",
		"kubernetes:core/v1:Namespace counter",
		"random:index/randomPassword:RandomPassword mysql-root-password",
		"random:index/randomPassword:RandomPassword mysql-app-password",
		"random:index/randomPassword:RandomPassword mysql-exporter-password",
		"kubernetes:core/v1:Secret mysql-credentials",
		"kubernetes:core/v1:ConfigMap mysql-config",
		"kubernetes:core/v1:ConfigMap mysql-initdb",
		"kubernetes:core/v1:Service mysql",
		"kubernetes:networking.k8s.io/v1:NetworkPolicy mysql",
		"kubernetes:core/v1:ConfigMap mysql-volumes",
		"kubernetes:apps/v1:StatefulSet mysql",
		"kubernetes:core/v1:PersistentVolumeClaimPatch mysql-data",
	}
	counter = []string{
		"counter-mysql:image:Image counter",
		"counter-mysql:counterapp:Counter counter",
		"kubernetes:apps/v1:Deployment counter",
		"kubernetes:core/v1:Service counter",
		"kubernetes:networking.k8s.io/v1:NetworkPolicy counter",
		"kubernetes:policy/v1:PodDisruptionBudget counter",
	}
)

// repoRoot is the repository root seen from this package's directory, where tests run.
const repoRoot = "../.."

func TestResourcesPerVariant(t *testing.T) {
	eks := slices.Concat(eksCluster, ebsStorage, mysql, counter)
	existing := slices.Concat(existingCluster, mysql, counter)
	tests := []struct {
		name   string
		config map[string]string
		want   []string
	}{
		{"default (eks)", nil, eks},
		{"retainVolumes", map[string]string{"retainVolumes": "true"}, eks},
		{"LoadBalancer", map[string]string{"serviceType": "LoadBalancer"}, eks},
		{"mysql 8.0", map[string]string{"mysqlVersion": "8.0"}, eks},
		{"existing", map[string]string{"mode": "existing"}, existing},
		{"existing with class and kubeconfig", map[string]string{
			"mode": "existing", "storageClassName": "standard", "kubeconfig": "/nonexistent/kubeconfig",
		}, existing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := stacktest.MustRun(t, tt.config)
			var got []string
			for _, r := range rec.Resources {
				got = append(got, r.Type+" "+r.Name)
			}
			if !slices.Equal(sorted(got), sorted(tt.want)) {
				t.Errorf("resources:\n  got  %v\n  want %v", got, tt.want)
			}
			if tt.config["mode"] == "existing" {
				for _, r := range rec.Resources {
					if strings.HasPrefix(r.Type, "aws:") || strings.HasPrefix(r.Type, "eks:") {
						t.Errorf("existing mode registered AWS resource %s %s", r.Type, r.Name)
					}
				}
			}
		})
	}
}

// TestBadConfigRegistersNothing: a bad stack fails before any resource exists.
func TestBadConfigRegistersNothing(t *testing.T) {
	tests := []struct {
		config map[string]string
		want   string
	}{
		{map[string]string{"mysqlVersion": "8.1"}, `counter-mysql:mysqlVersion "8.1" is not supported: use 8.0, 8.4 or 9.x`},
		{map[string]string{"mode": "gke"}, "counter-mysql:mode"},
		{map[string]string{"mysqlStorageSize": "lots"}, "counter-mysql:mysqlStorageSize"},
		{map[string]string{"namespace": "Not_A_Label"}, "counter-mysql:namespace"},
		{map[string]string{"nodeMinSize": "3", "nodeMaxSize": "2"}, "counter-mysql:nodeDesiredSize"},
		{map[string]string{"appReplicas": "0"}, "counter-mysql:appReplicas"},
		{map[string]string{"serviceType": "NodePort"}, "counter-mysql:serviceType"},
		{map[string]string{"volumeCleanupTimeout": "soon"}, "counter-mysql:volumeCleanupTimeout"},
		{map[string]string{"mode": "existing", "appImage": ""}, "counter-mysql:appImage is required with mode existing"},
		{map[string]string{"storageClassName": "gp2"}, "counter-mysql:storageClassName is only used with mode existing"},
		// On stacktest.Today, 2026-12-03.
		{map[string]string{"kubernetesVersion": "1.31"}, "counter-mysql:kubernetesVersion 1.31 reached the end of EKS extended support on 2026-11-26"},
		{map[string]string{"kubernetesVersion": "1.37"}, "counter-mysql:kubernetesVersion 1.37 is not offered by EKS"},
		{map[string]string{"vpcId": "vpc-0123456789abcdef1"}, "counter-mysql:vpcId vpc-0123456789abcdef1 needs subnets in at least two availability zones"},
		{map[string]string{"mysqlImage": "reg/mysql:9.1"}, `counter-mysql:mysqlImage "reg/mysql:9.1" has MySQL 9.1 but counter-mysql:mysqlVersion is 8.4`},
		{map[string]string{"mysqlImage": "reg/mysql@" + digest}, "a digest alone cannot say which MySQL it is: add the tag before the @digest"},
		{map[string]string{"mysqlImage": "Reg/MySQL 8.4"}, "counter-mysql:mysqlImage \"Reg/MySQL 8.4\" is not an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			rec, err := stacktest.Run(stacktest.Config(tt.config))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if rec == nil || len(rec.Resources) != 0 {
				t.Fatalf("registered %d resources before failing", len(rec.Resources))
			}
		})
	}
}

// digest is a well-formed image digest.
const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestMySQLImageFromAMirror: the StatefulSet runs mysqlImage as given, pulled once when a
// patch or a digest pins it, and its tag is the deployed version (label and output).
func TestMySQLImageFromAMirror(t *testing.T) {
	tests := []struct{ image, runs, pull, version string }{
		{"", "mysql:8.4", "Always", "8.4"},
		{"localhost:5000/mysql:8.4", "localhost:5000/mysql:8.4", "Always", "8.4"},
		{"localhost:5000/mysql:8.4.3", "localhost:5000/mysql:8.4.3", "IfNotPresent", "8.4.3"},
		{"registry.example.com/mysql:8.4@" + digest, "registry.example.com/mysql:8.4@" + digest, "IfNotPresent", "8.4"},
	}
	for _, tt := range tests {
		overrides := map[string]string{"mysqlImage": tt.image}
		sts, ok := stacktest.MustRun(t, overrides).Get("kubernetes:apps/v1:StatefulSet", "mysql")
		if !ok {
			t.Fatal("no StatefulSet")
		}
		tmpl := pulumitest.Field(sts.Object(), "spec", "template")
		c := pulumitest.Field(tmpl, "spec", "containers", "0")
		if image, pull := pulumitest.Field(c, "image"), pulumitest.Field(c, "imagePullPolicy"); image != tt.runs || pull != tt.pull {
			t.Errorf("mysqlImage %q: runs %v (%v), want %s (%s)", tt.image, image, pull, tt.runs, tt.pull)
		}
		if got := pulumitest.Field(tmpl, "metadata", "labels", "app.kubernetes.io/version"); got != tt.version {
			t.Errorf("mysqlImage %q: version label %v, want %s", tt.image, got, tt.version)
		}
		if values, _ := outputs(t, overrides); values["mysqlVersion"] != tt.version {
			t.Errorf("mysqlImage %q: output mysqlVersion %q, want %s", tt.image, values["mysqlVersion"], tt.version)
		}
	}
}

// TestMySQLExporter: the metrics sidecar runs by default from the pinned official image,
// from mysqlExporterImage when that is set, and not at all with mysqlExporter false.
func TestMySQLExporter(t *testing.T) {
	for _, tt := range []struct {
		overrides map[string]string
		want      []string // the pod's containers: name=image
	}{
		{nil, []string{"mysql=mysql:8.4", "metrics=prom/mysqld-exporter:v0.17.2"}},
		{map[string]string{"mysqlExporterImage": "registry.example.com/prom/mysqld-exporter:v0.17.2@" + digest},
			[]string{"mysql=mysql:8.4", "metrics=registry.example.com/prom/mysqld-exporter:v0.17.2@" + digest}},
		{map[string]string{"mysqlExporter": "false"}, []string{"mysql=mysql:8.4"}},
	} {
		sts, ok := stacktest.MustRun(t, tt.overrides).Get("kubernetes:apps/v1:StatefulSet", "mysql")
		if !ok {
			t.Fatal("no StatefulSet")
		}
		var got []string
		for _, c := range pulumitest.Field(sts.Object(), "spec", "template", "spec", "containers").([]any) {
			got = append(got, fmt.Sprint(pulumitest.Field(c, "name"), "=", pulumitest.Field(c, "image")))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v: containers %q, want %q", tt.overrides, got, tt.want)
		}
	}
	// The connection budget counts the exporter's account as it is capped.
	if config.ExporterDBConns != database.ExporterMaxConnections {
		t.Errorf("the budget counts %d exporter connections, its account allows %d", config.ExporterDBConns, database.ExporterMaxConnections)
	}
	if used := config.MaxAppReplicas*config.AppDBConns + config.ExporterDBConns; used >= config.MySQLMaxConnections {
		t.Errorf("the app and the exporter may hold %d of MySQL's %d connections: none left for administration", used, config.MySQLMaxConnections)
	}
}

// TestNoDefaultVPCRegistersNothing: with no VPC configured and none by default in the
// region, the program stops before anything exists, naming the keys to set; a
// configured VPC needs no default one.
func TestNoDefaultVPCRegistersNothing(t *testing.T) {
	noDefault := pulumitest.Account{NoDefaultVPC: true}
	rec, err := stacktest.RunIn(noDefault, stacktest.Config(nil), nil)
	want := "counter-mysql:vpcId is unset and the region has no default VPC to put the cluster in: set counter-mysql:vpcId, and counter-mysql:privateSubnetIds"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("registered %d resources before refusing", len(rec.Resources))
	}
	network := map[string]string{"vpcId": "vpc-0123456789abcdef1", "privateSubnetIds": "subnet-0000000c,subnet-0000000d"}
	if _, err := stacktest.RunIn(noDefault, stacktest.Config(network), nil); err != nil {
		t.Errorf("a configured VPC was refused: %v", err)
	}
	if _, err := stacktest.RunIn(noDefault, stacktest.Config(map[string]string{"mode": "existing"}), nil); err != nil {
		t.Errorf("existing mode, which creates no cluster, was refused: %v", err)
	}
}

func TestStatefulSetHooksAndDependencies(t *testing.T) {
	for _, variant := range []map[string]string{nil, {"mode": "existing"}} {
		rec := stacktest.MustRun(t, variant)
		sts, ok := rec.Get("kubernetes:apps/v1:StatefulSet", "mysql")
		if !ok {
			t.Fatal("no StatefulSet")
		}
		// Literal names: deployed stacks' state refers to the hooks by these names.
		if !slices.Equal(sts.Hooks.BeforeCreate, []string{"mysql-volume-adopt"}) ||
			!slices.Equal(sts.Hooks.BeforeUpdate, []string{"mysql-version-guard"}) ||
			!slices.Equal(sts.Hooks.BeforeDelete, []string{"mysql-volume-keep"}) ||
			len(sts.Hooks.AfterDelete) > 0 {
			t.Errorf("StatefulSet hooks = %+v", sts.Hooks)
		}
		volumes, ok := rec.Get("kubernetes:core/v1:ConfigMap", "mysql-volumes")
		if !ok {
			t.Fatal("no volumes ConfigMap")
		}
		if !slices.Equal(volumes.Hooks.BeforeDelete, []string{"mysql-volume-release"}) {
			t.Errorf("volumes ConfigMap hooks = %+v", volumes.Hooks)
		}
		// Pulumi deletes the StatefulSet before the volumes ConfigMap, whose hook deletes
		// the claims once no pod uses them ...
		if !slices.Contains(sts.DependsOn, volumes.URN) {
			t.Errorf("StatefulSet does not depend on the volumes ConfigMap: %v", sts.DependsOn)
		}
		if variant != nil {
			continue
		}
		// ... and the CSI add-on and the StorageClass after it, so that hook still has a
		// driver to delete the EBS volume, and the snapshot add-on and class, for the
		// final snapshot it takes first.
		for _, dep := range []string{
			"aws:eks/addon:Addon::aws-ebs-csi-driver", "kubernetes:storage.k8s.io/v1:StorageClass::gp3",
			"aws:eks/addon:Addon::snapshot-controller", "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass::ebs-retain",
		} {
			if !slices.ContainsFunc(volumes.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, dep) }) {
				t.Errorf("the volumes ConfigMap does not depend on %s: %v", dep, volumes.DependsOn)
			}
		}
	}
}

// TestNamespaceGoesBeforeTheSnapshotController: the destroy leaves the final VolumeSnapshot
// to the namespace's deletion, and only the snapshot controller removes its finalizer;
// were the add-ons deleted first, the namespace would stay Terminating and the destroy
// time out. Depending on both add-ons orders its deletion before theirs.
func TestNamespaceGoesBeforeTheSnapshotController(t *testing.T) {
	ns, ok := stacktest.MustRun(t, nil).Get("kubernetes:core/v1:Namespace", "counter")
	if !ok {
		t.Fatal("no Namespace counter")
	}
	for _, dep := range []string{"aws:eks/addon:Addon::snapshot-controller", "aws:eks/addon:Addon::aws-ebs-csi-driver"} {
		if !slices.ContainsFunc(ns.DependsOn, func(urn string) bool { return strings.HasSuffix(urn, dep) }) {
			t.Errorf("the namespace does not depend on %s: %v", dep, ns.DependsOn)
		}
	}
}

// TestAddonsRunOnTheNodes: EKS waits for an add-on's pods, so the EBS CSI and snapshot
// add-ons come after the node group, and on destroy go before it: the driver deletes the
// MySQL volume then.
func TestAddonsRunOnTheNodes(t *testing.T) {
	rec := stacktest.MustRun(t, nil)
	for _, name := range []string{"aws-ebs-csi-driver", "snapshot-controller"} {
		addon, _ := rec.Get("aws:eks/addon:Addon", name)
		if !slices.ContainsFunc(addon.DependsOn, func(urn string) bool {
			return strings.HasSuffix(urn, "aws:eks/nodeGroup:NodeGroup::stacktest-fixture-NodeGroup")
		}) {
			t.Errorf("add-on %s does not depend on the EKS node group: %v", name, addon.DependsOn)
		}
	}
}

// outputs runs Deploy with the default config and returns its outputs, each awaited inside
// the program (an ApplyT on an output not tied to the context may run after RunErr returns).
func outputs(t *testing.T, overrides map[string]string) (values map[string]string, secret map[string]bool) {
	t.Helper()
	cfg, err := config.Parse(func(k string) string { return stacktest.Config(overrides)[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.AWSProfile = overrides["aws:profile"]
	values, secret = map[string]string{}, map[string]bool{}
	_, err = stacktest.RunProgram(func(ctx *pulumi.Context) error {
		out, err := stack.Deploy(ctx, cfg, repoRoot, nil, false)
		if err != nil {
			return err
		}
		captured := map[string]pulumi.StringOutput{
			"namespace": out.Namespace, "appUrl": out.AppURL, "mysqlHost": out.MySQLHost, "mysqlVersion": out.MySQLVersion,
		}
		if cfg.Mode == config.ModeEKS {
			captured["kubeconfig"] = out.Kubeconfig
		}
		for name, o := range captured {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), o)
			if err != nil {
				return fmt.Errorf("output %s: %w", name, err)
			}
			values[name], _ = r.Value.(string)
			secret[name] = r.Secret
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return values, secret
}

func TestOutputs(t *testing.T) {
	values, secret := outputs(t, map[string]string{"namespace": "prod"})
	want := map[string]string{
		"namespace":    "prod",
		"mysqlHost":    "mysql-0.mysql.prod.svc.cluster.local",
		"mysqlVersion": "8.4",
		"appUrl":       "kubectl --namespace prod port-forward service/counter 8080:80, then open http://localhost:8080",
	}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %q, want %q", k, values[k], v)
		}
	}
	if !strings.Contains(values["kubeconfig"], `"server"`) || !secret["kubeconfig"] {
		t.Errorf("kubeconfig = %q (secret %v), want a secret kubeconfig", values["kubeconfig"], secret["kubeconfig"])
	}
	if secret["mysqlHost"] || secret["namespace"] {
		t.Errorf("plain outputs marked secret: %v", secret)
	}

	lb, _ := outputs(t, map[string]string{"serviceType": "LoadBalancer"})
	if lb["appUrl"] != "http://"+pulumitest.LoadBalancerHostname {
		t.Errorf("LoadBalancer appUrl = %q", lb["appUrl"])
	}
	// The exported kubeconfig works for a user who set only aws:profile.
	profiled, _ := outputs(t, map[string]string{"aws:profile": "prod-admin"})
	if !strings.Contains(profiled["kubeconfig"], `{"name":"AWS_PROFILE","value":"prod-admin"}`) {
		t.Errorf("kubeconfig with aws:profile = %s, want AWS_PROFILE prod-admin", profiled["kubeconfig"])
	}
	existing, _ := outputs(t, map[string]string{"mode": "existing"})
	if existing["mysqlHost"] != "mysql-0.mysql.counter.svc.cluster.local" {
		t.Errorf("existing mode mysqlHost = %q", existing["mysqlHost"])
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestRecommendedLabels: every Kubernetes object, and every pod template, says what it is
// and who manages it.
func TestRecommendedLabels(t *testing.T) {
	for _, o := range stacktest.MustRun(t, nil).MustObjects(t) {
		sets := map[string]map[string]string{"metadata": o.GetLabels()}
		if tmpl, ok := pulumitest.Field(o.Object, "spec", "template", "metadata", "labels").(map[string]any); ok {
			sets["pod template"] = map[string]string{}
			for k, v := range tmpl {
				sets["pod template"][k], _ = v.(string)
			}
		}
		for where, l := range sets {
			if l["app.kubernetes.io/part-of"] != "counter-mysql" || l["app.kubernetes.io/managed-by"] != "pulumi" {
				t.Errorf("%s %s: %s labels %v lack part-of/managed-by", o.GetKind(), o.GetName(), where, l)
			}
			if o.GetKind() != "Namespace" && (l["app.kubernetes.io/name"] == "" || l["app.kubernetes.io/instance"] != "counter-mysql-test" || l["app.kubernetes.io/component"] == "") {
				t.Errorf("%s %s: %s labels %v lack name/instance/component", o.GetKind(), o.GetName(), where, l)
			}
		}
	}
}

// countingMocks counts registrations and answers nothing else.
type countingMocks struct{ registered int }

func (m *countingMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.registered++
	return args.Name, args.Inputs, nil
}

func (m *countingMocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) { return nil, nil }

func TestLongStackNameFailsFirst(t *testing.T) {
	cfg, err := config.Parse(func(k string) string { return stacktest.Config(nil)[k] })
	if err != nil {
		t.Fatal(err)
	}
	m := &countingMocks{}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := stack.Deploy(ctx, cfg, repoRoot, nil, false)
		return err
	}, pulumi.WithMocks("counter-mysql", strings.Repeat("production-", 6), m))
	if err == nil || !strings.Contains(err.Error(), "use a shorter stack name") {
		t.Fatalf("error = %v, want the stack name refused", err)
	}
	if m.registered != 0 {
		t.Errorf("%d resources registered before the error", m.registered)
	}
}

// deploy runs stack.Deploy, building the image from root, with the default config plus
// overrides (appImage left unset unless given).
func deploy(t *testing.T, root string, overrides map[string]string) (*pulumitest.Recorded, error) {
	t.Helper()
	cfg, err := config.Parse(func(k string) string { return overrides[k] })
	if err != nil {
		t.Fatal(err)
	}
	return stacktest.RunProgram(func(ctx *pulumi.Context) error {
		_, err := stack.Deploy(ctx, cfg, root, nil, false)
		return err
	})
}

// TestImageBuiltFromSourceWhenUnconfigured: with no appImage the program creates an ECR
// repository and the image build, and the Deployment runs the pushed image by digest
// (what is built, and for which platform, is package image's test).
func TestImageBuiltFromSourceWhenUnconfigured(t *testing.T) {
	rec, err := deploy(t, repoRoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rec.Resources {
		got = append(got, r.Type+" "+r.Name)
	}
	built := []string{
		"aws:ecr/repository:Repository counter",
		"aws:ecr/lifecyclePolicy:LifecyclePolicy counter",
		"random:index/randomId:RandomId counter",
		"docker:index/image:Image counter",
	}
	want := slices.Concat(eksCluster, ebsStorage, mysql, counter, built)
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("resources:\n  got  %v\n  want %v", got, want)
	}
	app, _ := rec.Get("kubernetes:apps/v1:Deployment", "counter")
	image := pulumitest.Field(app.Object(), "spec", "template", "spec", "containers", "0", "image")
	if s, _ := image.(string); !strings.HasSuffix(s, "@"+pulumitest.ImageDigest) {
		t.Errorf("Deployment image = %v, want the pushed image by digest", image)
	}
}

// TestUnbuildableSourceRegistersNothing: a source tree the image cannot be built from
// fails before any resource exists.
func TestUnbuildableSourceRegistersNothing(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := filepath.Rel(wd, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := deploy(t, empty, nil)
	if err == nil || !strings.Contains(err.Error(), "image:") {
		t.Fatalf("error = %v, want the image's source refused", err)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("%d resources registered before the error", len(rec.Resources))
	}
}

// TestNamespaceAndCredentialsAreShared: the stack's namespace enforces the restricted Pod
// Security level over both workloads, and both pod templates carry the same credentials
// version, so a password change rolls MySQL and then the app.
func TestNamespaceAndCredentialsAreShared(t *testing.T) {
	objs := map[string]map[string]any{}
	for _, o := range stacktest.MustRun(t, nil).MustObjects(t) {
		objs[o.GetKind()+"/"+o.GetName()] = o.Object
	}
	ns, sts, app := objs["Namespace/counter"], objs["StatefulSet/mysql"], objs["Deployment/counter"]
	if ns == nil || sts == nil || app == nil {
		t.Fatalf("want Namespace/counter, StatefulSet/mysql and Deployment/counter, have %v", slices.Sorted(maps.Keys(objs)))
	}
	if got := pulumitest.Field(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"); got != "restricted" {
		t.Errorf("namespace enforce label = %v", got)
	}
	for _, o := range []map[string]any{sts, app} {
		if got := pulumitest.Field(o, "metadata", "namespace"); got != "counter" {
			t.Errorf("%v is in namespace %v", pulumitest.Field(o, "metadata", "name"), got)
		}
	}
	mysql := pulumitest.Field(sts, "spec", "template", "metadata", "annotations", database.CredentialsAnnotation)
	counter := pulumitest.Field(app, "spec", "template", "metadata", "annotations", database.CredentialsAnnotation)
	if v, _ := mysql.(string); len(v) != 32 || mysql != counter {
		t.Errorf("credentials versions: MySQL %v, app %v; want the same 32 hex digits", mysql, counter)
	}
}

// TestNamespaceKeepsItsOldURN: the namespace was the database component's child until it
// moved to the stack; the alias to that URN is what keeps a deployed stack's namespace
// (and the data in it) through an up. infra/enginetest runs that up for real.
func TestNamespaceKeepsItsOldURN(t *testing.T) {
	ns, ok := stacktest.MustRun(t, nil).Get("kubernetes:core/v1:Namespace", "counter")
	if !ok {
		t.Fatal("no Namespace counter")
	}
	want := "urn:pulumi:" + pulumitest.Stack + "::" + pulumitest.Project + "::counter-mysql:database:MySQL$kubernetes:core/v1:Namespace::counter"
	if !slices.Contains(ns.Aliases, want) {
		t.Errorf("namespace aliases = %q, want %q", ns.Aliases, want)
	}
}
