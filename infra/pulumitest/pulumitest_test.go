package pulumitest

import (
	"slices"
	"testing"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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

// TestKubernetesObjects checks the contract other test tiers rely on: every Kubernetes
// resource but patches, in order, with its kind, a name, plain secrets and whole numbers.
func TestKubernetesObjects(t *testing.T) {
	rec := MustRun(t, func(ctx *pulumi.Context) error {
		if _, err := corev1.NewConfigMap(ctx, "auto-named", &corev1.ConfigMapArgs{}); err != nil {
			return err
		}
		if _, err := corev1.NewSecret(ctx, "secret", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("credentials")},
			StringData: pulumi.StringMap{"password": pulumi.ToSecret(pulumi.String("s3cret")).(pulumi.StringOutput)},
		}); err != nil {
			return err
		}
		if _, err := corev1.NewConfigMapPatch(ctx, "patch", &corev1.ConfigMapPatchArgs{
			Metadata: &metav1.ObjectMetaPatchArgs{Name: pulumi.String("credentials")},
		}); err != nil {
			return err
		}
		_, err := appsv1.NewStatefulSet(ctx, "sts", &appsv1.StatefulSetArgs{
			Spec: &appsv1.StatefulSetSpecArgs{Replicas: pulumi.Int(1)},
		})
		return err
	})
	objs, err := rec.KubernetesObjects()
	if err != nil {
		t.Fatal(err)
	}
	// In registration order, which the SDK decides (a resource waits for its inputs, such
	// as the Secret's secret value), so the expected order comes from the recording.
	var got, want []string
	byKind := map[string]map[string]any{}
	for _, o := range objs {
		got = append(got, o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetName())
		byKind[o.GetKind()] = o.Object
	}
	names := map[string]string{"auto-named": "v1 ConfigMap auto-named", "secret": "v1 Secret credentials", "sts": "apps/v1 StatefulSet sts"}
	for _, r := range rec.Resources {
		if w, ok := names[r.Name]; ok && r.Type != "kubernetes:core/v1:ConfigMapPatch" {
			want = append(want, w)
		}
	}
	if len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("objects = %q, want %q (the patch left out)", got, want)
	}
	if pw := Field(byKind["Secret"], "stringData", "password"); pw != "s3cret" {
		t.Errorf("secret stringData.password = %#v, want the plain value", pw)
	}
	if replicas := Field(byKind["StatefulSet"], "spec", "replicas"); replicas != int64(1) {
		t.Errorf("replicas = %#v, want int64(1)", replicas)
	}
}
