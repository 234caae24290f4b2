package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// variants are the configurations whose objects differ.
var variants = map[string]map[string]string{
	"default":                            nil,
	"existing mode":                      {"mode": "existing"},
	"retainVolumes":                      {"retainVolumes": "true"},
	"LoadBalancer":                       {"serviceType": "LoadBalancer"},
	"mysql 8.0":                          {"mysqlVersion": "8.0"},
	"existing mode with a storage class": {"mode": "existing", "storageClassName": "standard"},
	"monitoring labels":                  {"mode": "existing", "monitoringLabels": "release=kube-prometheus-stack"},
	"monitoring off":                     {"monitoring": "off"},
	"requestTimeout":                     {"requestTimeout": "10s"},
}

// TestRenderedObjectsAreAccepted applies every object the program renders, for every
// variant, with a real server-side apply: schema validation, defaulting and admission
// (Pod Security included) all see them.
func TestRenderedObjectsAreAccepted(t *testing.T) {
	e := newEnv(t)
	for name, overrides := range variants {
		t.Run(name, func(t *testing.T) {
			d := e.render(t, overrides)
			e.apply(t, d)
			kinds := map[string]int{}
			for _, o := range d.objects {
				kinds[o.GetKind()]++
			}
			// The stack must keep rendering the objects the other tests rely on.
			for _, kind := range []string{"Namespace", "Secret", "ConfigMap", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget", "NetworkPolicy"} {
				if kinds[kind] == 0 {
					t.Errorf("no %s rendered (got %v)", kind, kinds)
				}
			}
			if monitored := kinds["PodMonitor"] > 0 && kinds["PrometheusRule"] == 1; monitored != (overrides["monitoring"] != "off") {
				t.Errorf("PodMonitors rendered: %v with monitoring %q on a cluster that serves the API (got %v)", monitored, overrides["monitoring"], kinds)
			}
		})
	}
}

// TestApplyReportsWarnings is the negative control of the test above: a warning from
// the API server, here a deprecated node label, fails the apply.
func TestApplyReportsWarnings(t *testing.T) {
	e := newEnv(t)
	d := e.render(t, nil)
	app := d.object(t, "Deployment", "counter")
	if err := unstructured.SetNestedStringMap(app.Object, map[string]string{"beta.kubernetes.io/arch": "amd64"},
		"spec", "template", "spec", "nodeSelector"); err != nil {
		t.Fatal(err)
	}
	err := e.applyAll(t.Context(), d.objects)
	if err == nil || !strings.Contains(err.Error(), "deprecated") {
		t.Fatalf("want a deprecation warning for Deployment counter, got %v", err)
	}
}

// TestPodsMeetRestrictedPodSecurity creates a pod from each workload's template in the
// stack's namespace, which enforces the restricted Pod Security Standard, and checks
// the app's ReplicaSet gets its pods created rather than rejected.
func TestPodsMeetRestrictedPodSecurity(t *testing.T) {
	e := newEnv(t)
	d := e.render(t, nil)
	ns := d.object(t, "Namespace", d.namespace)
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Fatalf("namespace enforces Pod Security level %q, want restricted", got)
	}
	e.apply(t, d)
	e.defaultServiceAccount(t, d.namespace)

	for _, workload := range []struct{ kind, name string }{{"StatefulSet", "mysql"}, {"Deployment", "counter"}} {
		t.Run(workload.kind+" "+workload.name, func(t *testing.T) {
			pod := podFromTemplate(t, d.object(t, workload.kind, workload.name))
			_, err := e.client.CoreV1().Pods(d.namespace).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatalf("pod rejected in a restricted namespace: %v", err)
			}
		})
	}

	// Negative control: the namespace really enforces, so the acceptance above means something.
	t.Run("privileged pod is rejected", func(t *testing.T) {
		pod := podFromTemplate(t, d.object(t, "Deployment", "counter"))
		pod.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
		pod.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		_, err := e.client.CoreV1().Pods(d.namespace).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			t.Fatal("a privileged pod was admitted: Pod Security admission is not enforcing")
		}
	})

	t.Run("app ReplicaSet creates its pods", func(t *testing.T) {
		want := d.object(t, "Deployment", "counter")
		replicas, found, err := unstructured.NestedInt64(want.Object, "spec", "replicas")
		if err != nil || !found || replicas < 1 {
			t.Fatalf("Deployment counter spec.replicas = %d (found %v, %v): want at least 1", replicas, found, err)
		}
		eventually(t, "ReplicaSet of Deployment counter creates its pods", func(ctx context.Context) error {
			rss, err := e.client.AppsV1().ReplicaSets(d.namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, rs := range rss.Items {
				for _, c := range rs.Status.Conditions {
					if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
						t.Fatalf("ReplicaSet %s cannot create pods: %s", rs.Name, c.Message)
					}
				}
				if int64(rs.Status.Replicas) == replicas {
					return nil
				}
			}
			return fmt.Errorf("%d ReplicaSets, none with %d pods yet", len(rss.Items), replicas)
		})
	})
}

// podFromTemplate turns a workload's pod template into a Pod, the claim volumes of a
// StatefulSet's first pod included, as its controller would.
func podFromTemplate(t *testing.T, workload *unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	tmpl, found, err := unstructured.NestedMap(workload.Object, "spec", "template")
	if err != nil || !found {
		t.Fatalf("%s %s has no pod template (%v)", workload.GetKind(), workload.GetName(), err)
	}
	var spec corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &spec); err != nil {
		t.Fatal(err)
	}
	claims, _, err := unstructured.NestedSlice(workload.Object, "spec", "volumeClaimTemplates")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		name, _, _ := unstructured.NestedString(c.(map[string]any), "metadata", "name")
		spec.Spec.Volumes = append(spec.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name + "-" + workload.GetName() + "-0"},
		}})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: workload.GetName() + "-", Labels: spec.Labels},
		Spec:       spec.Spec,
	}
}

// defaultServiceAccount waits for the namespace's default ServiceAccount: pods cannot
// be created before the controller-manager has made it.
func (e *env) defaultServiceAccount(t *testing.T, namespace string) {
	t.Helper()
	eventually(t, "ServiceAccount "+namespace+"/default", func(ctx context.Context) error {
		_, err := e.client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}
