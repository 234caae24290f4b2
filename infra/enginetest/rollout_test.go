package enginetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1apply "k8s.io/client-go/applyconfigurations/apps/v1"

	"github.com/counter-mysql/counter-mysql/infra/counterapp"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// TestRetryAfterKilledRunConverges: a run killed between applying an object and saving the
// state (kill -9 of the CLI, a lost CI runner) leaves the object owned by a field manager
// the next run does not know, pulumi-kubernetes-<random> like its own. Without the stack
// forcing its applies, every later change of such a field failed with "Server-Side Apply
// field conflict" and refresh did not help. The killed run is stood in for by applying the
// Deployment's fields again under another provider-style manager, which is what that run's
// apply left; the kill itself is not reproduced (its timing is the CLI's, not the test's).
func TestRetryAfterKilledRunConverges(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, map[string]string{"appReplicas": "2"})
	s.MustUp(t)
	ctx := t.Context()
	deployments := w.client.AppsV1().Deployments(s.namespace)
	live, err := deployments.Get(ctx, counterapp.DeploymentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var manager string
	for _, f := range live.ManagedFields {
		if f.Operation == metav1.ManagedFieldsOperationApply && strings.HasPrefix(f.Manager, "pulumi-kubernetes-") {
			manager = f.Manager
		}
	}
	if manager == "" {
		t.Fatalf("Deployment %s has no pulumi-kubernetes-* apply manager: %v", counterapp.DeploymentName, live.ManagedFields)
	}
	fields, err := appsv1apply.ExtractDeployment(live, manager)
	if err != nil {
		t.Fatal(err)
	}
	const killedRun = "pulumi-kubernetes-killedrun"
	if _, err := deployments.Apply(ctx, fields, metav1.ApplyOptions{FieldManager: killedRun}); err != nil {
		t.Fatalf("applying the Deployment's fields as %s: %v", killedRun, err)
	}

	s.SetConfig(t, map[string]string{"appReplicas": "3"})
	s.MustUp(t)
	after, err := deployments.Get(ctx, counterapp.DeploymentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := after.Spec.Replicas; r == nil || *r != 3 || after.Status.ReadyReplicas != 3 {
		t.Errorf("Deployment after the up: replicas %v, ready %d; want 3 and 3", r, after.Status.ReadyReplicas)
	}
	if _, _, err := s.RunPreview(t, optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview --expect-no-changes after the converged up: %v", err)
	}
}

// TestUpWaitsForMySQL: an up that changes MySQL's pod returns only once the new pod is
// Ready; when it cannot start (here a ResourceQuota refuses the pod, as an admission
// policy or a missing node would keep it away), the up fails within mysqlReadyTimeout,
// naming the pod and why, instead of reporting success with MySQL down. Once the cause is
// gone, the next up finishes the rollout.
func TestUpWaitsForMySQL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, map[string]string{"mysqlReadyTimeout": "30s"})
	s.MustUp(t)
	ctx := t.Context()
	ns := s.namespace

	// Room for the pods that run, none for a new one: MySQL's replacement is refused.
	pods, err := w.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-new-pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(pods.Items)-1), resource.DecimalSI)}},
	}
	if _, err := w.client.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ResourceQuota "+quota.Name+" counts the pods", func(ctx context.Context) error {
		q, err := w.client.CoreV1().ResourceQuotas(ns).Get(ctx, quota.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := q.Status.Used[corev1.ResourcePods]; !ok {
			return errors.New("no usage yet")
		}
		return nil
	})

	s.SetConfig(t, map[string]string{"mysqlVersion": "9.1"})
	start := time.Now()
	_, out, err := s.RunUp(t)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("up succeeded in %s while %s could not be created", took.Round(time.Second), pod0)
	}
	// 30 s of waiting plus the rest of the up (~20 s here).
	if took > 2*time.Minute {
		t.Errorf("the failed up took %s, want it bounded by mysqlReadyTimeout (30s)", took.Round(time.Second))
	}
	mustContain(t, "the failed up", err.Error()+out, "StatefulSet", pod0, "exceeded quota")

	if err := w.client.CoreV1().ResourceQuotas(ns).Delete(ctx, quota.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.MustUp(t)
	p, err := w.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s after the retried up: %v", pod0, err)
	}
	if img := p.Spec.Containers[0].Image; !kubetest.PodReady(p) || !strings.HasSuffix(img, ":9.1") {
		t.Errorf("%s after the retried up: ready %v, image %s; want Ready on 9.1", pod0, kubetest.PodReady(p), img)
	}
	if sts, err := w.client.AppsV1().StatefulSets(ns).Get(ctx, database.StatefulSetName, metav1.GetOptions{}); err != nil || sts.Status.ReadyReplicas != 1 {
		t.Errorf("StatefulSet after the retried up: want 1 ready replica (%v)", err)
	}
}
