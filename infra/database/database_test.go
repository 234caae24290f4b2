package database_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
)

// objects are the plain inputs of the component's Kubernetes resources, by "Kind/name".
type objects map[string]map[string]any

// args are what the stack passes, with test values.
func args(t *testing.T) *database.Args {
	t.Helper()
	v, err := mysqlversion.Parse("8.4")
	if err != nil {
		t.Fatal(err)
	}
	sizing := database.DefaultSizing
	sizing.MaxConnections = 77
	return &database.Args{
		Namespace:            pulumi.String("counter"),
		Instance:             "counter-mysql-test",
		Version:              v,
		StorageClassName:     pulumi.StringPtr("gp3"),
		StorageSize:          "20Gi",
		Sizing:               sizing,
		RetainVolumesSetting: "counter-mysql:retainVolumes",
		ReadyTimeout:         15 * time.Minute,
		Volumes:              noVolumes{},
		Clients:              map[string]string{"app.kubernetes.io/name": "counter", "app.kubernetes.io/instance": "counter-mysql-test"},
	}
}

// noVolumes fails every volume operation: no hook runs under the mocks.
type noVolumes struct{}

func (noVolumes) Adopt(context.Context, *slog.Logger, string, []string) error {
	return errors.New("no volumes here")
}
func (noVolumes) Keep(context.Context, *slog.Logger, string, string) error {
	return errors.New("no volumes here")
}
func (noVolumes) Release(context.Context, *slog.Logger, string, string, bool) error {
	return errors.New("no volumes here")
}

// render builds the database alone from args(), changed by change.
func render(t *testing.T, change func(*database.Args)) (*pulumitest.Recorded, objects) {
	t.Helper()
	a := args(t)
	if change != nil {
		change(a)
	}
	rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		_, err := database.New(ctx, "mysql", a)
		return err
	})
	out := objects{}
	for _, o := range rec.MustObjects(t) {
		out[o.GetKind()+"/"+o.GetName()] = o.Object
	}
	return rec, out
}

// version is mysqlversion.Parse that fails t on error.
func version(t *testing.T, s string) mysqlversion.Version {
	t.Helper()
	v, err := mysqlversion.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (o objects) get(t *testing.T, key string) map[string]any {
	t.Helper()
	obj, ok := o[key]
	if !ok {
		t.Fatalf("no %s", key)
	}
	return obj
}

// selects reports whether selector is non-empty and matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestHeadlessServiceAndSelectors(t *testing.T) {
	_, objs := render(t, nil)
	svc := objs.get(t, "Service/"+database.ServiceName)
	sts := objs.get(t, "StatefulSet/"+database.StatefulSetName)
	policy := objs.get(t, "NetworkPolicy/mysql")
	podLabels := pulumitest.Strings(pulumitest.Field(sts, "spec", "template", "metadata", "labels"))
	appLabels := args(t).Clients

	checks := []struct {
		name      string
		got, want any
	}{
		{"clusterIP", pulumitest.Field(svc, "spec", "clusterIP"), "None"},
		{"publishNotReadyAddresses", pulumitest.Field(svc, "spec", "publishNotReadyAddresses"), false},
		{"service port", pulumitest.Field(svc, "spec", "ports", "0", "port"), int64(database.Port)},
		{"service targetPort is the container port name", pulumitest.Field(svc, "spec", "ports", "0", "targetPort"),
			pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "ports", "0", "name")},
		{"serviceName", pulumitest.Field(sts, "spec", "serviceName"), pulumitest.Field(svc, "metadata", "name")},
		{"replicas", pulumitest.Field(sts, "spec", "replicas"), int64(1)},
		{"policy types", pulumitest.Field(policy, "spec", "policyTypes", "0"), "Ingress"},
		{"policy ingress rules", len(pulumitest.Field(policy, "spec", "ingress").([]any)), 1},
		{"policy port", pulumitest.Field(policy, "spec", "ingress", "0", "ports", "0", "port"), int64(database.Port)},
		{"policy peers", len(pulumitest.Field(policy, "spec", "ingress", "0", "from").([]any)), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	selectors := map[string]struct {
		selector map[string]string
		pods     map[string]string
	}{
		"Service selects mysql pods":           {pulumitest.Strings(pulumitest.Field(svc, "spec", "selector")), podLabels},
		"StatefulSet selects its pods":         {pulumitest.Strings(pulumitest.Field(sts, "spec", "selector", "matchLabels")), podLabels},
		"NetworkPolicy protects mysql pods":    {pulumitest.Strings(pulumitest.Field(policy, "spec", "podSelector", "matchLabels")), podLabels},
		"NetworkPolicy admits counter pods":    {pulumitest.Strings(pulumitest.Field(policy, "spec", "ingress", "0", "from", "0", "podSelector", "matchLabels")), appLabels},
		"volume claims carry the pod selector": {pulumitest.Strings(pulumitest.Field(sts, "spec", "selector", "matchLabels")), pulumitest.Strings(pulumitest.Field(sts, "spec", "volumeClaimTemplates", "0", "metadata", "labels"))},
	}
	for name, s := range selectors {
		if !selects(s.selector, s.pods) {
			t.Errorf("%s: selector %v does not match %v", name, s.selector, s.pods)
		}
	}
	if selects(pulumitest.Strings(pulumitest.Field(policy, "spec", "ingress", "0", "from", "0", "podSelector", "matchLabels")), podLabels) {
		t.Error("NetworkPolicy admits the mysql pods themselves; it should admit only the app")
	}
}

func TestVolumeClaimTemplate(t *testing.T) {
	tests := []struct {
		name        string
		change      func(*database.Args)
		class       any
		size        string
		whenDeleted string
	}{
		// The claim always outlives the StatefulSet: the destroy's hooks delete or keep it.
		{"the given class", nil, "gp3", "20Gi", "Retain"},
		{"the given size", func(a *database.Args) { a.StorageSize = "50Gi" }, "gp3", "50Gi", "Retain"},
		{"retainVolumes", func(a *database.Args) { a.RetainVolumes = true }, "gp3", "20Gi", "Retain"},
		{"no class: the cluster default", func(a *database.Args) { a.StorageClassName = nil }, nil, "20Gi", "Retain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, objs := render(t, tt.change)
			sts := objs.get(t, "StatefulSet/mysql")
			claim := pulumitest.Field(sts, "spec", "volumeClaimTemplates", "0")
			// The claim the StatefulSet creates is resized in place by a patch.
			patch, ok := rec.Get("kubernetes:core/v1:PersistentVolumeClaimPatch", "mysql-data")
			if !ok {
				t.Fatal("no PersistentVolumeClaimPatch")
			}
			if !patch.RetainOnDelete {
				t.Error("the claim patch is deleted with the stack; relinquishing the size it owns would fail")
			}
			p := patch.Object()
			if pulumitest.Field(p, "metadata", "name") != "data-mysql-0" || pulumitest.Field(p, "metadata", "namespace") != "counter" ||
				pulumitest.Field(p, "spec", "resources", "requests", "storage") != tt.size {
				t.Errorf("claim patch = %v, want data-mysql-0 in counter sized %s", p, tt.size)
			}
			if got := pulumitest.Field(claim, "spec", "storageClassName"); got != tt.class {
				t.Errorf("storageClassName = %#v, want %#v", got, tt.class)
			}
			if got := pulumitest.Field(claim, "spec", "resources", "requests", "storage"); got != tt.size {
				t.Errorf("size = %#v, want %s", got, tt.size)
			}
			if got := pulumitest.Field(sts, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"); got != tt.whenDeleted {
				t.Errorf("whenDeleted = %#v, want %s", got, tt.whenDeleted)
			}
			if got := pulumitest.Field(sts, "spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"); got != "Retain" {
				t.Errorf("whenScaled = %#v, want Retain", got)
			}
			mounted := false
			for _, m := range pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "volumeMounts").([]any) {
				mounted = mounted || pulumitest.Field(m, "name") == pulumitest.Field(claim, "metadata", "name")
			}
			if !mounted {
				t.Error("the claim template is not mounted")
			}
		})
	}
}

func TestImageFollowsVersion(t *testing.T) {
	for _, v := range []string{"8.0", "8.4", "8.4.3", "9.1", "9.3.0"} {
		_, objs := render(t, func(a *database.Args) { a.Version = version(t, v) })
		sts := objs.get(t, "StatefulSet/mysql")
		if got := pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "image"); got != "mysql:"+v {
			t.Errorf("version %s: image = %v", v, got)
		}
		if got := pulumitest.Field(sts, "spec", "template", "metadata", "labels", "app.kubernetes.io/version"); got != v {
			t.Errorf("version %s: version label = %v", v, got)
		}
		// The claim template is frozen at creation (IgnoreChanges): a version there would go stale.
		if got := pulumitest.Field(sts, "spec", "volumeClaimTemplates", "0", "metadata", "labels", "app.kubernetes.io/version"); got != nil {
			t.Errorf("version %s: the claim template has version label %v", v, got)
		}
	}
}

func TestPodIsHardened(t *testing.T) {
	_, objs := render(t, nil)
	pod := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec")
	container := pulumitest.Field(pod, "containers", "0")
	want := map[string]any{
		"securityContext.runAsNonRoot":                          true,
		"securityContext.runAsUser":                             int64(999),
		"securityContext.fsGroup":                               int64(999),
		"securityContext.fsGroupChangePolicy":                   "OnRootMismatch",
		"securityContext.seccompProfile.type":                   "RuntimeDefault",
		"automountServiceAccountToken":                          false,
		"terminationGracePeriodSeconds":                         int64(120),
		"containers.0.securityContext.readOnlyRootFilesystem":   true,
		"containers.0.securityContext.allowPrivilegeEscalation": false,
		"containers.0.securityContext.capabilities.drop.0":      "ALL",
	}
	for path, w := range want {
		if got := pulumitest.Field(pod, strings.Split(path, ".")...); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		command, _ := pulumitest.Field(container, probe, "exec", "command", "2").(string)
		if !strings.Contains(command, `"$MYSQL_ROOT_PASSWORD" >`) || !strings.Contains(command, "--defaults-extra-file=") {
			t.Errorf("%s command %q does not pass the password through an option file", probe, command)
		}
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
		if pulumitest.Field(container, append([]string{"resources"}, strings.Split(r, ".")...)...) == nil {
			t.Errorf("no resources.%s", r)
		}
	}
}

func TestCredentialsAreSecret(t *testing.T) {
	rec, objs := render(t, nil)
	secret, ok := rec.Get("kubernetes:core/v1:Secret", database.SecretName)
	if !ok {
		t.Fatal("no credentials Secret")
	}
	// Either the whole stringData or each password must be a Pulumi secret.
	if data := secret.Inputs["stringData"]; !data.IsSecret() {
		for _, key := range []string{database.SecretKeyRootPassword, database.SecretKeyAppPassword, database.SecretKeyExporterPassword} {
			if !data.ObjectValue()[resource.PropertyKey(key)].IsSecret() {
				t.Errorf("stringData.%s is not a Pulumi secret", key)
			}
		}
	}
	plain := pulumitest.Strings(pulumitest.Field(objs.get(t, "Secret/"+database.SecretName), "stringData"))
	if plain[database.SecretKeyAppUser] != database.AppUser || len(plain[database.SecretKeyRootPassword]) != 32 {
		t.Errorf("credentials = user %q, root password of %d chars", plain[database.SecretKeyAppUser], len(plain[database.SecretKeyRootPassword]))
	}
	for _, pw := range rec.ByType("random:index/randomPassword:RandomPassword") {
		obj := pw.Object()
		if obj["length"] != int64(32) || obj["special"] != false {
			t.Errorf("%s: length %v special %v, want 32 alphanumeric", pw.Name, obj["length"], obj["special"])
		}
	}
	// The password never appears in the pod spec, only references to the Secret.
	sts := objs.get(t, "StatefulSet/mysql")
	env := map[string]string{}
	for _, e := range pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "env").([]any) {
		name, _ := pulumitest.Field(e, "name").(string)
		if key, ok := pulumitest.Field(e, "valueFrom", "secretKeyRef", "key").(string); ok {
			env[name] = "secret:" + key
		} else {
			env[name], _ = pulumitest.Field(e, "value").(string)
		}
	}
	wantEnv := map[string]string{
		"MYSQL_ROOT_PASSWORD":  "secret:" + database.SecretKeyRootPassword,
		"MYSQL_DATABASE":       schema.Database,
		"APP_DB_USER":          "secret:" + database.SecretKeyAppUser,
		"APP_DB_PASSWORD":      "secret:" + database.SecretKeyAppPassword,
		"EXPORTER_DB_PASSWORD": "secret:" + database.SecretKeyExporterPassword,
	}
	if !maps.Equal(env, wantEnv) {
		t.Errorf("env = %v, want %v", env, wantEnv)
	}
}

func TestServerFiles(t *testing.T) {
	_, objs := render(t, nil)
	cnf, _ := pulumitest.Field(objs.get(t, "ConfigMap/mysql-config"), "data", "counter.cnf").(string)
	for _, want := range []string{
		"innodb_flush_log_at_trx_commit = 1", "sync_binlog = 1", "skip-name-resolve",
		"max_connections = 77", "innodb_buffer_pool_size = 512M", "datadir = /var/lib/mysql/data",
	} {
		if !strings.Contains(cnf, want) {
			t.Errorf("my.cnf lacks %q:\n%s", want, cnf)
		}
	}
	script, _ := pulumitest.Field(objs.get(t, "ConfigMap/mysql-initdb"), "data", "create-accounts.sh").(string)
	grant := "GRANT " + schema.Privileges + " ON " + schema.Database + ".* TO '${APP_DB_USER}'@'%';"
	if !strings.Contains(script, grant) || !strings.Contains(script, "IDENTIFIED BY '${APP_DB_PASSWORD}'") {
		t.Errorf("init script does not create the app user with exactly %q:\n%s", grant, script)
	}
	if strings.Contains(script, "`") || strings.Contains(script, "GRANT ALL") {
		t.Errorf("init script has command substitution or grants too much:\n%s", script)
	}
}

// TestAccountsFollowTheSecret: MySQL starts through the start script, with the accounts
// file on a memory-backed emptyDir of its own, and the pod template carries the
// credentials version, so a password change restarts MySQL.
func TestAccountsFollowTheSecret(t *testing.T) {
	_, objs := render(t, nil)
	sts := objs.get(t, "StatefulSet/mysql")
	cmd, _ := pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "command").([]any)
	if len(cmd) != 8 || cmd[0] != "sh" || cmd[1] != "-c" || !strings.Contains(cmd[2].(string), "--init-file") ||
		cmd[6] != "docker-entrypoint.sh" || cmd[7] != "mysqld" {
		t.Fatalf("MySQL command = %q, want the start script (data dir, init dir) then the image's entrypoint and mysqld", cmd)
	}
	initDir := cmd[5]
	var initVolume map[string]any
	for _, v := range pulumitest.Field(sts, "spec", "template", "spec", "volumes").([]any) {
		if v.(map[string]any)["name"] == "init" {
			initVolume = v.(map[string]any)
		}
	}
	if pulumitest.Field(initVolume, "emptyDir", "medium") != "Memory" {
		t.Errorf("the accounts file's volume %v is not in memory", initVolume)
	}
	mounted := false
	for _, m := range pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "volumeMounts").([]any) {
		mounted = mounted || (m.(map[string]any)["name"] == "init" && m.(map[string]any)["mountPath"] == initDir)
	}
	if !mounted {
		t.Errorf("the init volume is not mounted at %s", initDir)
	}

	if v, _ := pulumitest.Field(sts, "spec", "template", "metadata", "annotations", database.CredentialsAnnotation).(string); len(v) != 32 {
		t.Errorf("credentials version %q, want 32 hex digits", v)
	}
}

// TestPullPolicyFollowsTheTag: a series tag, which moves with each patch release, is pulled
// at every start; a pinned patch or a digest uses the cached image.
func TestPullPolicyFollowsTheTag(t *testing.T) {
	tests := []struct{ version, image, want string }{
		{"8.4", "", "Always"},
		{"8.4.3", "", "IfNotPresent"},
		{"9.1", "", "Always"},
		{"8.4", "localhost:5000/mysql:8.4", "Always"},
		{"8.4.3", "localhost:5000/mysql:8.4.3", "IfNotPresent"},
		{"8.4", "registry.example.com/mysql:8.4@" + digest, "IfNotPresent"},
		{"8.4.3", "registry.example.com/mysql:8.4.3@" + digest, "IfNotPresent"},
	}
	for _, tt := range tests {
		_, objs := render(t, func(a *database.Args) { a.Version, a.Image = version(t, tt.version), tt.image })
		c := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec", "containers", "0")
		if got := pulumitest.Field(c, "imagePullPolicy"); got != tt.want {
			t.Errorf("version %s (image %v): imagePullPolicy %v, want %s", tt.version, pulumitest.Field(c, "image"), got, tt.want)
		}
	}
}

// digest is a well-formed image digest.
const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestImageFromAMirror: Args.Image is run as given, with Args.Version's labels; an image
// whose tag is not Args.Version is refused before anything is registered, since the
// version guard reads the version back from the image.
func TestImageFromAMirror(t *testing.T) {
	for _, tt := range []struct{ version, image string }{
		{"8.4.3", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/mysql:8.4.3"},
		{"8.4", "localhost:5000/mysql:8.4"},
		{"9.1", "registry.example.com/mysql:9.1@" + digest},
	} {
		_, objs := render(t, func(a *database.Args) { a.Version, a.Image = version(t, tt.version), tt.image })
		tmpl := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template")
		if got := pulumitest.Field(tmpl, "spec", "containers", "0", "image"); got != tt.image {
			t.Errorf("image = %v, want %s", got, tt.image)
		}
		if got := pulumitest.Field(tmpl, "metadata", "labels", "app.kubernetes.io/version"); got != tt.version {
			t.Errorf("image %s: version label = %v, want %s", tt.image, got, tt.version)
		}
	}
	for _, image := range []string{"localhost:5000/mysql:8.4.3", "localhost:5000/mysql:9.1", "mysql@" + digest, "mysql:lts"} {
		a := args(t) // Version 8.4
		a.Image = image
		rec, err := pulumitest.Run(func(ctx *pulumi.Context) error {
			_, err := database.New(ctx, "mysql", a)
			return err
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "is not tagged with Args.Version 8.4") || len(rec.Resources) > 0 {
			t.Errorf("image %s with version 8.4: error %v and %d resources, want a refusal before any", image, err, len(rec.Resources))
		}
	}
}

// TestEphemeralStorageIsBounded: the container requests and limits ephemeral storage, and
// its emptyDirs have size limits.
func TestEphemeralStorageIsBounded(t *testing.T) {
	_, objs := render(t, nil)
	for _, key := range []string{"StatefulSet/mysql"} {
		spec := pulumitest.Field(objs.get(t, key), "spec", "template", "spec")
		for _, c := range pulumitest.Field(spec, "containers").([]any) {
			for _, kind := range []string{"requests", "limits"} {
				if pulumitest.Field(c, "resources", kind, "ephemeral-storage") == nil {
					t.Errorf("%s container %v: no ephemeral-storage %s", key, pulumitest.Field(c, "name"), kind)
				}
			}
		}
		volumes, _ := pulumitest.Field(spec, "volumes").([]any)
		for _, v := range volumes {
			if ed := pulumitest.Field(v, "emptyDir"); ed != nil && pulumitest.Field(ed, "sizeLimit") == nil {
				t.Errorf("%s: emptyDir %v has no sizeLimit", key, pulumitest.Field(v, "name"))
			}
		}
	}
}

// TestSizingIsOneValue: the memory limit, the buffer pool inside it, the CPU and the
// connection limit all follow Args.Sizing, and a sizing MySQL cannot start with is refused.
func TestSizingIsOneValue(t *testing.T) {
	_, objs := render(t, func(a *database.Args) {
		a.Sizing = database.Sizing{CPURequest: "500m", CPULimit: "2", MemoryMiB: 2048, MaxConnections: 40}
	})
	cnf, _ := pulumitest.Field(objs.get(t, "ConfigMap/mysql-config"), "data", "counter.cnf").(string)
	for _, want := range []string{"max_connections = 40", "innodb_buffer_pool_size = 1024M"} {
		if !strings.Contains(cnf, want) {
			t.Errorf("my.cnf lacks %q:\n%s", want, cnf)
		}
	}
	resources := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec", "containers", "0", "resources")
	want := map[string]string{"requests.cpu": "500m", "limits.cpu": "2", "requests.memory": "2048Mi", "limits.memory": "2048Mi"}
	for path, w := range want {
		if got := pulumitest.Field(resources, strings.Split(path, ".")...); got != w {
			t.Errorf("resources.%s = %v, want %s", path, got, w)
		}
	}

	for _, bad := range []database.Sizing{{}, {CPURequest: "1", CPULimit: "1", MemoryMiB: 128, MaxConnections: 10}, {CPURequest: "1", CPULimit: "1", MemoryMiB: 1024}} {
		a := args(t)
		a.Sizing = bad
		rec, err := pulumitest.Run(func(ctx *pulumi.Context) error {
			_, err := database.New(ctx, "mysql", a)
			return err
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "Args.Sizing") {
			t.Errorf("sizing %+v: error %v, want one naming Args.Sizing", bad, err)
		}
		if len(rec.Resources) > 0 {
			t.Errorf("sizing %+v: registered %d resources before refusing", bad, len(rec.Resources))
		}
	}
}

// TestUpWaitsForMySQLOnItsNewSpec: an up returns once MySQL's one pod is of the
// StatefulSet's update revision and Ready (the provider checks observedGeneration first),
// or fails after ReadyTimeout; the claim patch, whose readiness the provider cannot judge
// on a WaitForFirstConsumer class, is not waited for.
func TestUpWaitsForMySQLOnItsNewSpec(t *testing.T) {
	rec, objs := render(t, func(a *database.Args) { a.ReadyTimeout = 7 * time.Minute })
	annotations := pulumitest.Strings(pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "metadata", "annotations"))
	var conditions []string
	if err := json.Unmarshal([]byte(annotations["pulumi.com/waitFor"]), &conditions); err != nil {
		t.Fatalf("StatefulSet's pulumi.com/waitFor %q is not a JSON list: %v", annotations["pulumi.com/waitFor"], err)
	}
	slices.Sort(conditions)
	if want := []string{"jsonpath={.status.readyReplicas}=1", "jsonpath={.status.updatedReplicas}=1"}; !slices.Equal(conditions, want) {
		t.Errorf("StatefulSet waits for %v, want %v", conditions, want)
	}
	sts, _ := rec.Get("kubernetes:apps/v1:StatefulSet", "mysql")
	if sts.CreateTimeout != "7m0s" || sts.UpdateTimeout != "7m0s" {
		t.Errorf("StatefulSet timeouts create %q update %q, want 7m0s (Args.ReadyTimeout)", sts.CreateTimeout, sts.UpdateTimeout)
	}
	patch, ok := rec.Get("kubernetes:core/v1:PersistentVolumeClaimPatch", "mysql-data")
	if !ok {
		t.Fatal("no claim patch")
	}
	if got := pulumitest.Strings(pulumitest.Field(patch.Object(), "metadata", "annotations"))["pulumi.com/skipAwait"]; got != "true" {
		t.Errorf("claim patch pulumi.com/skipAwait = %q, want \"true\"", got)
	}

	a := args(t)
	a.ReadyTimeout = 0
	rec, err := pulumitest.Run(func(ctx *pulumi.Context) error {
		_, err := database.New(ctx, "mysql", a)
		return err
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "Args.ReadyTimeout") || len(rec.Resources) > 0 {
		t.Errorf("no ReadyTimeout: error %v and %d resources, want a refusal naming Args.ReadyTimeout before any", err, len(rec.Resources))
	}
}

// TestTwoDatabasesInOneProgram: the hooks are named after the component, so a second
// database does not clash with the first.
func TestTwoDatabasesInOneProgram(t *testing.T) {
	rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		for _, name := range []string{"mysql", "other"} {
			a := args(t)
			a.Namespace = pulumi.String(name)
			if _, err := database.New(ctx, name, a); err != nil {
				return err
			}
		}
		return nil
	})
	var hooks []string
	for _, sts := range rec.ByType("kubernetes:apps/v1:StatefulSet") {
		hooks = append(hooks, sts.Hooks.BeforeCreate...)
	}
	slices.Sort(hooks)
	if want := []string{"mysql-volume-adopt", "other-volume-adopt"}; !slices.Equal(hooks, want) {
		t.Errorf("before-create hooks = %q, want %q", hooks, want)
	}
}

// exporterImage is the sidecar's image in these tests.
const exporterImage = "prom/mysqld-exporter:v0.17.2"

// TestExporterSidecar: with Args.ExporterImage, the pod runs mysqld_exporter beside MySQL,
// logging in over the pod's loopback with the password from the Secret (never an
// argument), restricted, bounded, on the port named metrics, and without probes; the
// NetworkPolicy lets any namespace's pods in on that port and nothing more.
func TestExporterSidecar(t *testing.T) {
	_, objs := render(t, func(a *database.Args) { a.ExporterImage = exporterImage })
	pod := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec")
	containers := pulumitest.Field(pod, "containers").([]any)
	if len(containers) != 2 || pulumitest.Field(containers[0], "name") != "mysql" {
		t.Fatalf("containers %v, want mysql then the exporter", containers)
	}
	c := containers[1].(map[string]any)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	wantArgs := []string{"--mysqld.address=127.0.0.1:3306", "--mysqld.username=" + database.ExporterUser, "--web.listen-address=:9104"}
	if !slices.Equal(args, wantArgs) {
		t.Errorf("args %q, want %q", args, wantArgs)
	}
	for _, pw := range pulumitest.Strings(pulumitest.Field(objs.get(t, "Secret/"+database.SecretName), "stringData")) {
		if strings.Contains(strings.Join(args, " "), pw) {
			t.Error("a value of the credentials Secret is in the exporter's arguments")
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", c["name"], "metrics"},
		{"image", c["image"], exporterImage},
		{"imagePullPolicy", c["imagePullPolicy"], "IfNotPresent"},
		{"env", len(c["env"].([]any)), 1},
		{"env name", pulumitest.Field(c, "env", "0", "name"), "MYSQLD_EXPORTER_PASSWORD"},
		{"env secret", pulumitest.Field(c, "env", "0", "valueFrom", "secretKeyRef", "name"), database.SecretName},
		{"env key", pulumitest.Field(c, "env", "0", "valueFrom", "secretKeyRef", "key"), database.SecretKeyExporterPassword},
		{"port name", pulumitest.Field(c, "ports", "0", "name"), database.ExporterPortName},
		{"port", pulumitest.Field(c, "ports", "0", "containerPort"), int64(database.ExporterPort)},
		{"runAsUser", pulumitest.Field(c, "securityContext", "runAsUser"), int64(65534)},
		{"runAsGroup", pulumitest.Field(c, "securityContext", "runAsGroup"), int64(65534)},
		{"runAsNonRoot", pulumitest.Field(c, "securityContext", "runAsNonRoot"), true},
		{"readOnlyRootFilesystem", pulumitest.Field(c, "securityContext", "readOnlyRootFilesystem"), true},
		{"allowPrivilegeEscalation", pulumitest.Field(c, "securityContext", "allowPrivilegeEscalation"), false},
		{"capabilities", pulumitest.Field(c, "securityContext", "capabilities", "drop", "0"), "ALL"},
		{"pod seccomp", pulumitest.Field(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		// The pod is Ready only when every container is, and the headless Service publishes
		// only ready pods: a failing exporter probe would take MySQL away from the app.
		{"readinessProbe", c["readinessProbe"], nil},
		{"livenessProbe", c["livenessProbe"], nil},
		{"startupProbe", c["startupProbe"], nil},
		{"publishNotReadyAddresses", pulumitest.Field(objs.get(t, "Service/mysql"), "spec", "publishNotReadyAddresses"), false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("exporter %s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory", "ephemeral-storage"} {
			if v, _ := pulumitest.Field(c, "resources", kind, r).(string); v == "" {
				t.Errorf("exporter resources.%s.%s unset", kind, r)
			}
		}
	}

	rules := pulumitest.Field(objs.get(t, "NetworkPolicy/mysql"), "spec", "ingress").([]any)
	if len(rules) != 2 {
		t.Fatalf("ingress rules %v, want the app's and the scrapers'", rules)
	}
	scrape := rules[1].(map[string]any)
	if ports := scrape["ports"].([]any); len(ports) != 1 || pulumitest.Field(ports[0], "port") != int64(database.ExporterPort) ||
		pulumitest.Field(ports[0], "protocol") != "TCP" {
		t.Errorf("scrapers' ports %v, want %d/TCP only", ports, database.ExporterPort)
	}
	// An empty namespaceSelector: every namespace. Dropping it would leave an empty peer,
	// which the API server refuses.
	from := scrape["from"].([]any)
	if selector, ok := pulumitest.Field(from, "0", "namespaceSelector").(map[string]any); len(from) != 1 || len(from[0].(map[string]any)) != 1 || !ok || len(selector) != 0 {
		t.Errorf("scrapers' peers %v, want every namespace's pods", from)
	}
}

// TestNoExporter: without Args.ExporterImage there is no sidecar and no metrics port in the
// NetworkPolicy, but the exporter's account is kept in step all the same (its password
// reaches MySQL's start script), so turning the sidecar back on needs nothing else.
func TestNoExporter(t *testing.T) {
	_, objs := render(t, nil)
	sts := objs.get(t, "StatefulSet/mysql")
	if n := len(pulumitest.Field(sts, "spec", "template", "spec", "containers").([]any)); n != 1 {
		t.Errorf("%d containers, want MySQL only", n)
	}
	if n := len(pulumitest.Field(objs.get(t, "NetworkPolicy/mysql"), "spec", "ingress").([]any)); n != 1 {
		t.Errorf("%d ingress rules, want the app's only", n)
	}
	found := false
	for _, e := range pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "env").([]any) {
		found = found || pulumitest.Field(e, "valueFrom", "secretKeyRef", "key") == database.SecretKeyExporterPassword
	}
	if !found {
		t.Error("MySQL's container lacks the exporter's password: its account would not follow the Secret")
	}
}
