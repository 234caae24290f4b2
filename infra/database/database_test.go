package database_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// objects are the plain inputs of the stack's Kubernetes resources, by "Kind/name".
type objects map[string]map[string]any

func render(t *testing.T, overrides map[string]string) (*pulumitest.Recorded, objects) {
	t.Helper()
	rec := stacktest.MustRun(t, overrides)
	out := objects{}
	for _, o := range rec.MustObjects(t) {
		out[o.GetKind()+"/"+o.GetName()] = o.Object
	}
	return rec, out
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
	app := objs.get(t, "Deployment/counter")
	podLabels := pulumitest.Strings(pulumitest.Field(sts, "spec", "template", "metadata", "labels"))
	appLabels := pulumitest.Strings(pulumitest.Field(app, "spec", "template", "metadata", "labels"))

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
		config      map[string]string
		class       any
		size        string
		whenDeleted string
	}{
		// The claim always outlives the StatefulSet: the destroy's hooks delete or keep it.
		{"eks uses our gp3 class", nil, "gp3", "20Gi", "Retain"},
		{"size from config", map[string]string{"mysqlStorageSize": "50Gi"}, "gp3", "50Gi", "Retain"},
		{"retainVolumes", map[string]string{"retainVolumes": "true"}, "gp3", "20Gi", "Retain"},
		{"existing without class uses the cluster default", map[string]string{"mode": "existing"}, nil, "20Gi", "Retain"},
		{"existing with class", map[string]string{"mode": "existing", "storageClassName": "standard"}, "standard", "20Gi", "Retain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, objs := render(t, tt.config)
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
	for _, version := range []string{"8.0", "8.4", "8.4.3", "9.1", "9.3.0"} {
		_, objs := render(t, map[string]string{"mysqlVersion": version})
		sts := objs.get(t, "StatefulSet/mysql")
		if got := pulumitest.Field(sts, "spec", "template", "spec", "containers", "0", "image"); got != "mysql:"+version {
			t.Errorf("mysqlVersion %s: image = %v", version, got)
		}
		if got := pulumitest.Field(sts, "spec", "template", "metadata", "labels", "app.kubernetes.io/version"); got != version {
			t.Errorf("mysqlVersion %s: version label = %v", version, got)
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
	ns := objs.get(t, "Namespace/counter")
	if got := pulumitest.Field(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"); got != "restricted" {
		t.Errorf("namespace enforce label = %v", got)
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
		for _, key := range []string{database.SecretKeyRootPassword, database.SecretKeyAppPassword} {
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
		"MYSQL_ROOT_PASSWORD": "secret:" + database.SecretKeyRootPassword,
		"MYSQL_DATABASE":      schema.Database,
		"APP_DB_USER":         "secret:" + database.SecretKeyAppUser,
		"APP_DB_PASSWORD":     "secret:" + database.SecretKeyAppPassword,
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
		"max_connections = 100", "innodb_buffer_pool_size = 512M", "datadir = /var/lib/mysql/data",
	} {
		if !strings.Contains(cnf, want) {
			t.Errorf("my.cnf lacks %q:\n%s", want, cnf)
		}
	}
	script, _ := pulumitest.Field(objs.get(t, "ConfigMap/mysql-initdb"), "data", "create-app-user.sh").(string)
	grant := "GRANT " + schema.Privileges + " ON " + schema.Database + ".* TO '${APP_DB_USER}'@'%';"
	if !strings.Contains(script, grant) || !strings.Contains(script, "IDENTIFIED BY '${APP_DB_PASSWORD}'") {
		t.Errorf("init script does not create the app user with exactly %q:\n%s", grant, script)
	}
	if strings.Contains(script, "`") || strings.Contains(script, "ALL PRIVILEGES") {
		t.Errorf("init script has command substitution or grants too much:\n%s", script)
	}
}

// TestAccountsFollowTheSecret: MySQL starts through the start script, with the accounts
// file on a memory-backed emptyDir of its own, and both pod templates carry the same
// credentials version, so a password change rolls MySQL and then the app.
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

	mysqlVersion := pulumitest.Field(sts, "spec", "template", "metadata", "annotations", database.CredentialsAnnotation)
	appVersion := pulumitest.Field(objs.get(t, "Deployment/counter"), "spec", "template", "metadata", "annotations", database.CredentialsAnnotation)
	if s, _ := mysqlVersion.(string); len(s) != 32 || mysqlVersion != appVersion {
		t.Errorf("credentials versions: MySQL %v, app %v; want the same 32 hex digits", mysqlVersion, appVersion)
	}
}

// TestPullPolicyFollowsTheTag: a series tag, which moves with each patch release, is pulled
// at every start; a pinned patch uses the cached image.
func TestPullPolicyFollowsTheTag(t *testing.T) {
	for version, want := range map[string]string{"8.4": "Always", "8.4.3": "IfNotPresent", "9.1": "Always"} {
		_, objs := render(t, map[string]string{"mysqlVersion": version})
		c := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec", "containers", "0")
		if got := pulumitest.Field(c, "imagePullPolicy"); got != want {
			t.Errorf("mysqlVersion %s (image %v): imagePullPolicy %v, want %s", version, pulumitest.Field(c, "image"), got, want)
		}
	}
}

// TestEphemeralStorageIsBounded: both containers request and limit ephemeral storage, and
// MySQL's emptyDirs have size limits within the container's.
func TestEphemeralStorageIsBounded(t *testing.T) {
	_, objs := render(t, nil)
	for _, key := range []string{"StatefulSet/mysql", "Deployment/counter"} {
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
