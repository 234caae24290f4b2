package counterapp_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/counterapp"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
)

// args are what the stack passes, with test values.
func args() *counterapp.Args {
	return &counterapp.Args{
		Namespace:             pulumi.String("prod"),
		Instance:              "counter-mysql-test",
		Image:                 pulumi.String("ghcr.io/counter-mysql/counter:test"),
		Replicas:              3,
		ServiceType:           "ClusterIP",
		DBMaxConns:            7,
		MySQLHost:             pulumi.String("mysql-0.mysql.prod.svc.cluster.local"),
		MySQLPort:             3306,
		DatabasePods:          map[string]string{"app.kubernetes.io/name": "mysql"},
		CredentialsSecret:     pulumi.String("mysql-credentials"),
		UserKey:               "app-user",
		PasswordKey:           "app-password",
		CredentialsVersion:    pulumi.String("0123456789abcdef0123456789abcdef"),
		CredentialsAnnotation: "example.com/credentials-version",
	}
}

// render builds the component alone from args(), changed by change, and returns its
// Kubernetes objects by kind.
func render(t *testing.T, change func(*counterapp.Args)) map[string]map[string]any {
	t.Helper()
	a := args()
	if change != nil {
		change(a)
	}
	rec := pulumitest.MustRun(t, func(ctx *pulumi.Context) error {
		_, err := counterapp.New(ctx, "counter", a)
		return err
	})
	out := map[string]map[string]any{}
	for _, o := range rec.MustObjects(t) {
		out[o.GetKind()] = o.Object
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if out[kind] == nil {
			t.Fatalf("no counter %s", kind)
		}
	}
	return out
}

func TestDeploymentFollowsArgs(t *testing.T) {
	digest := "registry.example.com:5000/team/counter@sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		change   func(*counterapp.Args)
		image    string
		replicas int64
	}{
		{nil, "ghcr.io/counter-mysql/counter:test", 3},
		{func(a *counterapp.Args) { a.Image, a.Replicas = pulumi.String(digest), 5 }, digest, 5},
	}
	for _, tt := range tests {
		d := render(t, tt.change)["Deployment"]
		if got := pulumitest.Field(d, "spec", "template", "spec", "containers", "0", "image"); got != tt.image {
			t.Errorf("image = %v, want %s", got, tt.image)
		}
		if got := pulumitest.Field(d, "spec", "replicas"); got != tt.replicas {
			t.Errorf("replicas = %v, want %d", got, tt.replicas)
		}
	}
}

// environment is the app container's environment, a Secret's reference as "secret name/key".
func environment(d map[string]any) map[string]string {
	env := map[string]string{}
	for _, e := range pulumitest.Field(d, "spec", "template", "spec", "containers", "0", "env").([]any) {
		name, _ := pulumitest.Field(e, "name").(string)
		if ref := pulumitest.Field(e, "valueFrom", "secretKeyRef"); ref != nil {
			env[name] = "secret " + pulumitest.Field(ref, "name").(string) + "/" + pulumitest.Field(ref, "key").(string)
		} else {
			env[name], _ = pulumitest.Field(e, "value").(string)
		}
	}
	return env
}

func TestEnvironment(t *testing.T) {
	d := render(t, nil)["Deployment"]
	env := environment(d)
	// No REQUEST_TIMEOUT without Args.RequestTimeout: the app's default applies, and a
	// stack that does not set requestTimeout sees no diff.
	want := map[string]string{
		"MYSQL_HOST":     "mysql-0.mysql.prod.svc.cluster.local",
		"MYSQL_PORT":     "3306",
		"MYSQL_DATABASE": "counter",
		"MYSQL_USER":     "secret mysql-credentials/app-user",
		"MYSQL_PASSWORD": "secret mysql-credentials/app-password",
		"LISTEN_ADDR":    ":8080",
		"COUNTER_MODE":   "batch",
		"SHUTDOWN_DELAY": "5s",
		"DB_MAX_CONNS":   "7",
	}
	if !maps.Equal(env, want) {
		t.Errorf("env:\n  got  %v\n  want %v", env, want)
	}
	// The grace period must cover the shutdown delay and the app's 20 s SHUTDOWN_TIMEOUT.
	if grace := pulumitest.Field(d, "spec", "template", "spec", "terminationGracePeriodSeconds"); fmt.Sprint(grace) != "30" {
		t.Errorf("terminationGracePeriodSeconds = %v, want 30 (5 s delay + 20 s shutdown + slack)", grace)
	}
}

// TestRequestTimeout: Args.RequestTimeout is the app's REQUEST_TIMEOUT, in the form the
// app parses (a Go duration).
func TestRequestTimeout(t *testing.T) {
	d := render(t, func(a *counterapp.Args) { a.RequestTimeout = 1500 * time.Millisecond })["Deployment"]
	if got := environment(d)["REQUEST_TIMEOUT"]; got != "1.5s" {
		t.Errorf("REQUEST_TIMEOUT = %q, want 1.5s", got)
	}
}

func TestServiceAndBudgetSelectPods(t *testing.T) {
	for _, serviceType := range []string{"ClusterIP", "LoadBalancer"} {
		objs := render(t, func(a *counterapp.Args) { a.ServiceType = serviceType })
		pods := pulumitest.Strings(pulumitest.Field(objs["Deployment"], "spec", "template", "metadata", "labels"))
		selectors := map[string]map[string]string{
			"Deployment":          pulumitest.Strings(pulumitest.Field(objs["Deployment"], "spec", "selector", "matchLabels")),
			"Service":             pulumitest.Strings(pulumitest.Field(objs["Service"], "spec", "selector")),
			"PodDisruptionBudget": pulumitest.Strings(pulumitest.Field(objs["PodDisruptionBudget"], "spec", "selector", "matchLabels")),
			"topology spread":     pulumitest.Strings(pulumitest.Field(objs["Deployment"], "spec", "template", "spec", "topologySpreadConstraints", "0", "labelSelector", "matchLabels")),
		}
		for name, sel := range selectors {
			if len(sel) == 0 {
				t.Errorf("%s has an empty selector", name)
			}
			for k, v := range sel {
				if pods[k] != v {
					t.Errorf("%s selector %v does not match pod labels %v", name, sel, pods)
				}
			}
		}
		svc := objs["Service"]
		checks := map[string][2]any{
			"service type":   {pulumitest.Field(svc, "spec", "type"), serviceType},
			"service port":   {pulumitest.Field(svc, "spec", "ports", "0", "port"), int64(80)},
			"target port":    {pulumitest.Field(svc, "spec", "ports", "0", "targetPort"), "http"},
			"container port": {pulumitest.Field(objs["Deployment"], "spec", "template", "spec", "containers", "0", "ports", "0", "containerPort"), int64(8080)},
			"pdb":            {pulumitest.Field(objs["PodDisruptionBudget"], "spec", "maxUnavailable"), int64(1)},
			"service name":   {pulumitest.Field(svc, "metadata", "name"), counterapp.ServiceName},
		}
		for name, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s: %s = %#v, want %#v", serviceType, name, c[0], c[1])
			}
		}
	}
}

func TestPodIsHardenedAndObservable(t *testing.T) {
	d := render(t, nil)["Deployment"]
	pod := pulumitest.Field(d, "spec", "template", "spec")
	want := map[string]any{
		"securityContext.runAsNonRoot":                          true,
		"securityContext.runAsUser":                             int64(65532),
		"securityContext.runAsGroup":                            int64(65532),
		"securityContext.seccompProfile.type":                   "RuntimeDefault",
		"automountServiceAccountToken":                          false,
		"containers.0.securityContext.readOnlyRootFilesystem":   true,
		"containers.0.securityContext.allowPrivilegeEscalation": false,
		"containers.0.securityContext.capabilities.drop.0":      "ALL",
		"containers.0.readinessProbe.httpGet.path":              "/readyz",
		"containers.0.readinessProbe.httpGet.port":              "http",
		"containers.0.livenessProbe.httpGet.path":               "/healthz",
		"containers.0.startupProbe.httpGet.path":                "/healthz",
		"topologySpreadConstraints.0.topologyKey":               "kubernetes.io/hostname",
		"topologySpreadConstraints.0.whenUnsatisfiable":         "ScheduleAnyway",
	}
	for path, w := range want {
		if got := pulumitest.Field(pod, strings.Split(path, ".")...); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.ephemeral-storage", "limits.ephemeral-storage"} {
		if pulumitest.Field(pod, append([]string{"containers", "0", "resources"}, strings.Split(r, ".")...)...) == nil {
			t.Errorf("no resources.%s", r)
		}
	}
	annotations := pulumitest.Strings(pulumitest.Field(d, "spec", "template", "metadata", "annotations"))
	if annotations["prometheus.io/scrape"] != "true" || annotations["prometheus.io/port"] != "8080" || annotations["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations = %v", annotations)
	}
}
