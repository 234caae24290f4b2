package stacktest

import (
	"os"
	"strings"
	"testing"
)

func TestTypeToGVK(t *testing.T) {
	tests := []struct{ token, apiVersion, kind string }{
		{"kubernetes:apps/v1:StatefulSet", "apps/v1", "StatefulSet"},
		{"kubernetes:core/v1:Service", "v1", "Service"},
		{"kubernetes:networking.k8s.io/v1:NetworkPolicy", "networking.k8s.io/v1", "NetworkPolicy"},
		{"kubernetes:policy/v1:PodDisruptionBudget", "policy/v1", "PodDisruptionBudget"},
	}
	for _, tt := range tests {
		apiVersion, kind, err := typeToGVK(tt.token)
		if err != nil || apiVersion != tt.apiVersion || kind != tt.kind {
			t.Errorf("typeToGVK(%q) = %q, %q, %v; want %q, %q", tt.token, apiVersion, kind, err, tt.apiVersion, tt.kind)
		}
	}
	for _, bad := range []string{"kubernetes:Thing", "kubernetes:v1:Thing"} {
		if _, _, err := typeToGVK(bad); err == nil {
			t.Errorf("typeToGVK(%q) accepted a malformed token", bad)
		}
	}
}

// TestKubernetesObjects checks the contract other test tiers rely on.
func TestKubernetesObjects(t *testing.T) {
	rec, err := Run(Config(nil))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := rec.KubernetesObjects()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range rec.Resources {
		if strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasSuffix(r.Type, "Patch") {
			want = append(want, r.Type+" "+r.Name)
		}
	}
	if len(objs) != len(want) || len(objs) == 0 {
		t.Fatalf("got %d objects for %d kubernetes resources", len(objs), len(want))
	}
	for i, o := range objs {
		apiVersion, kind, _ := typeToGVK(strings.Fields(want[i])[0])
		if o.GetAPIVersion() != apiVersion || o.GetKind() != kind {
			t.Errorf("object %d (%s) is %s %s, want %s %s", i, want[i], o.GetAPIVersion(), o.GetKind(), apiVersion, kind)
		}
		if o.GetName() == "" {
			t.Errorf("object %d (%s) has no name", i, want[i])
		}
	}

	byName := map[string]map[string]any{}
	for _, o := range objs {
		byName[o.GetKind()+"/"+o.GetName()] = o.Object
	}
	// The ConfigMaps are auto-named, so they carry their resource names.
	if _, ok := byName["ConfigMap/mysql-config"]; !ok {
		t.Errorf("auto-named ConfigMap mysql-config missing; have %v", keys(byName))
	}
	// Secrets are plain strings, ready to apply.
	secret, ok := byName["Secret/mysql-credentials"]
	if !ok {
		t.Fatalf("Secret mysql-credentials missing; have %v", keys(byName))
	}
	data, _ := secret["stringData"].(map[string]any)
	if pw, _ := data["root-password"].(string); len(pw) < 16 {
		t.Errorf("root-password = %#v, want the plain generated password", data["root-password"])
	}
	// Numbers that are whole come out as int64, as the API machinery expects.
	sts := byName["StatefulSet/mysql"]
	if replicas := sts["spec"].(map[string]any)["replicas"]; replicas != int64(1) {
		t.Errorf("StatefulSet replicas = %#v, want int64(1)", replicas)
	}
}

func TestRunRestoresEnvironment(t *testing.T) {
	t.Setenv("PULUMI_CONFIG", `{"other:key":"kept"}`)
	if _, err := Run(Config(nil)); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("PULUMI_CONFIG"); got != `{"other:key":"kept"}` {
		t.Errorf("PULUMI_CONFIG after Run = %q", got)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
