package enginetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// TestLifecycle is a user's life with one stack, in order: preview, up, an up with no
// changes, the version guard, a volume resize and the pod-deletion drill, a plain destroy
// the engine refuses, and destroy --run-program leaving no volume behind.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, nil)
	ns := s.namespace
	ctx := t.Context()

	t.Run("preview plans the stack and creates nothing", func(t *testing.T) {
		res, out, err := s.RunPreview(t)
		if err != nil {
			t.Fatal(err)
		}
		if n := res.ChangeSummary[apitype.OpCreate]; n < 15 {
			t.Errorf("preview plans %d creates, want the whole stack (%v)", n, res.ChangeSummary)
		}
		mustContain(t, "the preview", out, "monitoring: counter-mysql:monitoring is auto and the cluster serves monitoring.coreos.com/v1")
		_, err = w.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		notFound(t, "namespace "+ns+" after preview", err)
	})

	passwords := map[string]string{} // the Secret's, by key
	t.Run("up creates every object and exports the outputs", func(t *testing.T) {
		res, out := s.MustUp(t)
		want := map[string]string{
			"namespace":    ns,
			"mysqlHost":    "mysql-0.mysql." + ns + ".svc.cluster.local",
			"mysqlVersion": "8.4",
			"appImage":     appImage,
		}
		for k, v := range want {
			if got, _ := res.Outputs[k].Value.(string); got != v {
				t.Errorf("output %s = %q, want %q", k, got, v)
			}
		}
		if url, _ := res.Outputs["appUrl"].Value.(string); !strings.Contains(url, "port-forward") || !strings.Contains(url, ns) {
			t.Errorf("output appUrl = %q, want a port-forward hint for namespace %s", url, ns)
		}
		sts, err := w.client.AppsV1().StatefulSets(ns).Get(ctx, database.StatefulSetName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sts.Status.ReadyReplicas != 1 {
			t.Errorf("StatefulSet ready replicas %d, want 1", sts.Status.ReadyReplicas)
		}
		deps, err := w.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) != 1 || deps.Items[0].Status.ReadyReplicas != 2 {
			t.Errorf("want one Deployment with 2 ready replicas, got %v (%v)", deps, err)
		}
		for _, name := range []string{database.ServiceName} {
			if _, err := w.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Error(err)
			}
		}
		pols, err := w.client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pols.Items) == 0 {
			t.Errorf("no NetworkPolicy in %s (%v)", ns, err)
		}
		if monitored, _ := res.Outputs["monitoring"].Value.(bool); !monitored {
			t.Errorf("output monitoring = %v on a cluster with the Prometheus Operator, want true", res.Outputs["monitoring"].Value)
		}
		w.wantMonitoring(t, ns)
		secret, err := w.client.CoreV1().Secrets(ns).Get(ctx, database.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{database.SecretKeyRootPassword, database.SecretKeyAppPassword, database.SecretKeyExporterPassword} {
			passwords[key] = string(secret.Data[key])
			if len(passwords[key]) != 32 {
				t.Fatalf("%s of %d characters, want 32", key, len(passwords[key]))
			}
		}
		for name, p := range passwords {
			if where := s.plainInState(t, p); len(where) > 0 {
				t.Errorf("%s is in plain text in the state file, in %s", name, strings.Join(where, ", "))
			}
			if strings.Contains(out, p) {
				t.Errorf("%s is in the output of pulumi up", name)
			}
		}
	})

	t.Run("a second up changes nothing", func(t *testing.T) {
		if _, _, err := s.RunPreview(t, optpreview.ExpectNoChanges()); err != nil {
			t.Errorf("preview --expect-no-changes: %v", err)
		}
		res, _ := s.MustUp(t)
		if res.Summary.ResourceChanges == nil {
			t.Fatal("second up reports no resource changes summary")
		}
		for op, n := range *res.Summary.ResourceChanges {
			// The one read is the program's reference to its own outputs (stack.Deployed).
			if op == string(apitype.OpSame) || (op == string(apitype.OpRead) && n == 1) {
				continue
			}
			t.Errorf("second up: %d %s (want only same, and one read): %v", n, op, *res.Summary.ResourceChanges)
		}
	})

	t.Run("up --skip-preview refuses a downgrade and changes nothing", func(t *testing.T) {
		before := objectVersions(t, w, ns)
		s.SetConfig(t, map[string]string{"mysqlVersion": "8.0"})
		defer s.SetConfig(t, map[string]string{"mysqlVersion": "8.4"})
		_, out, err := s.RunUp(t)
		if err == nil {
			t.Fatal("up accepted mysqlVersion 8.4 -> 8.0")
		}
		mustContain(t, "up of 8.4 -> 8.0", err.Error()+out, "counter-mysql:mysqlVersion", "8.4 -> 8.0", "set counter-mysql:mysqlVersion back to 8.4")
		if strings.Contains(out, "resource monitor shut down") {
			t.Errorf("the refusal comes with an engine error about RPCs:\n%s", out)
		}
		after := objectVersions(t, w, ns)
		for obj, v := range before {
			if after[obj] != v {
				t.Errorf("%s changed (resourceVersion %s -> %s) although the up was refused", obj, v, after[obj])
			}
		}
	})

	t.Run("replacing the passwords rotates them and rolls MySQL and the app", func(t *testing.T) {
		urns := s.PasswordURNs(t)
		mysqlPod, err := w.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		appPods := podUIDs(t, w, ns, "app.kubernetes.io/name=counter")
		s.MustUp(t, optup.Replace(urns)) // README: the rotation command
		secret, err := w.client.CoreV1().Secrets(ns).Get(ctx, database.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for key, old := range passwords {
			if string(secret.Data[key]) == old {
				t.Fatalf("%s did not change", key)
			}
		}
		eventually(t, "a new "+pod0, func(ctx context.Context) error {
			p, err := w.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
			if err != nil || p.UID == mysqlPod.UID {
				return fmt.Errorf("still the old pod (%v)", err)
			}
			return nil
		})
		for uid := range podUIDs(t, w, ns, "app.kubernetes.io/name=counter") {
			if appPods[uid] {
				t.Errorf("app pod %s was not replaced: it would keep the old password", uid)
			}
		}
	})

	t.Run("preview refuses a downgrade and accepts 8.4 -> 9.x", func(t *testing.T) {
		s.SetConfig(t, map[string]string{"mysqlVersion": "8.0"})
		_, out, err := s.RunPreview(t)
		if err == nil {
			t.Fatal("preview accepted mysqlVersion 8.4 -> 8.0")
		}
		mustContain(t, "preview of 8.4 -> 8.0", err.Error()+out, "counter-mysql:mysqlVersion", "8.4 -> 8.0", "downgrade", "set counter-mysql:mysqlVersion back to 8.4")

		s.SetConfig(t, map[string]string{"mysqlVersion": "9.1"})
		res, _, err := s.RunPreview(t)
		if err != nil {
			t.Fatalf("preview refused mysqlVersion 8.4 -> 9.1: %v", err)
		}
		if res.ChangeSummary[apitype.OpUpdate] == 0 {
			t.Errorf("preview of 8.4 -> 9.1 plans no update: %v", res.ChangeSummary)
		}
		s.SetConfig(t, map[string]string{"mysqlVersion": "8.4"})
		sts, err := w.client.AppsV1().StatefulSets(ns).Get(ctx, database.StatefulSetName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := sts.Spec.Template.Spec.Containers[0].Image; !strings.Contains(img, "8.4") {
			t.Errorf("previews changed the StatefulSet's image to %s", img)
		}
	})

	t.Run("a bigger mysqlStorageSize patches the claim; the drill keeps it", func(t *testing.T) {
		before, _ := s.claimVolume(t)
		s.SetConfig(t, map[string]string{"mysqlStorageSize": "2Gi"})
		s.MustUp(t)
		after, err := w.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim0, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := after.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("2Gi")) != 0 {
			t.Errorf("claim requests %s after up, want 2Gi", got.String())
		}
		if after.UID != before.UID {
			t.Errorf("the claim was replaced (uid %s -> %s)", before.UID, after.UID)
		}

		s.SetConfig(t, map[string]string{"mysqlStorageSize": "1Gi"})
		_, out, err := s.RunPreview(t)
		if err == nil {
			t.Error("preview accepted shrinking mysqlStorageSize 2Gi -> 1Gi")
		} else {
			mustContain(t, "preview of a shrink", err.Error()+out, "counter-mysql:mysqlStorageSize", "2Gi")
		}
		s.SetConfig(t, map[string]string{"mysqlStorageSize": "2Gi"})

		pod, err := w.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.client.CoreV1().Pods(ns).Delete(ctx, pod0, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a new "+pod0+" Ready on "+claim0, func(ctx context.Context) error {
			p, err := w.client.CoreV1().Pods(ns).Get(ctx, pod0, metav1.GetOptions{})
			switch {
			case err != nil:
				return err
			case p.UID == pod.UID || p.DeletionTimestamp != nil:
				return errors.New("still the old pod")
			case !kubetest.PodReady(p):
				return errors.New("not Ready")
			}
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim0 {
					return nil
				}
			}
			return errors.New("does not mount " + claim0)
		})
		again, _ := s.claimVolume(t)
		if again.UID != before.UID {
			t.Errorf("the drill replaced the claim (uid %s -> %s)", before.UID, again.UID)
		}
	})

	t.Run("plain destroy is refused and deletes nothing", func(t *testing.T) {
		out, err := s.RunDestroy(t, false)
		if err == nil {
			t.Fatal("pulumi destroy without --run-program succeeded: the volume clean-up hook would not have run")
		}
		mustContain(t, "plain destroy", err.Error()+out, "--run-program")
		if _, err := w.client.AppsV1().StatefulSets(ns).Get(ctx, database.StatefulSetName, metav1.GetOptions{}); err != nil {
			t.Errorf("StatefulSet after a refused destroy: %v", err)
		}
		if _, err := w.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim0, metav1.GetOptions{}); err != nil {
			t.Errorf("claim after a refused destroy: %v", err)
		}
	})

	t.Run("destroy --run-program leaves no claim and no volume, and a final snapshot", func(t *testing.T) {
		_, pv := s.claimVolume(t)
		w.deleteReleasedVolumes(t, ns, 0)
		out, err := s.RunDestroy(t, true)
		if err != nil {
			t.Fatal(err)
		}
		// The snapshot (finalSnapshot's default) outlives the VolumeSnapshot, which went
		// with the namespace; the stack's clean-up deletes it.
		snaps := w.finalSnapshots(t, ns)
		if len(snaps) != 1 || snaps[0].Status == nil || snaps[0].Status.SnapshotHandle == nil {
			t.Fatalf("want one final VolumeSnapshotContent with a handle for namespace %s after the destroy, got %+v", ns, snaps)
		}
		// What the clean-up did reaches the user, through the engine.
		mustContain(t, "destroy output", out, "final snapshot ready", snaps[0].Spec.VolumeSnapshotRef.Name, snaps[0].Name,
			*snaps[0].Status.SnapshotHandle, "deleted PersistentVolumeClaim", claim0, pv, "PersistentVolumes deleted")
		_, err = w.client.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
		notFound(t, "volume "+pv+" after destroy", err)
		if left := s.namespaceVolumes(t); len(left) > 0 {
			t.Errorf("volumes left after destroy: %v", left)
		}
	})
}

// podUIDs are the UIDs of the running pods in ns that selector matches.
func podUIDs(t *testing.T, w *world, ns, selector string) map[types.UID]bool {
	t.Helper()
	pods, err := w.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[types.UID]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids[p.UID] = true
		}
	}
	if len(uids) == 0 {
		t.Fatalf("no pods %s in %s", selector, ns)
	}
	return uids
}

// objectVersions is the resourceVersion of every object the stack made in ns.
func objectVersions(t *testing.T, w *world, ns string) map[string]string {
	t.Helper()
	ctx := t.Context()
	v := map[string]string{}
	add := func(kind string, items []metav1.Object, err error) {
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			v[kind+" "+o.GetName()] = o.GetResourceVersion()
		}
	}
	cms, err := w.client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	add("ConfigMap", objects(cms.Items), err)
	secrets, err := w.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	add("Secret", objects(secrets.Items), err)
	svcs, err := w.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	add("Service", objects(svcs.Items), err)
	pols, err := w.client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	add("NetworkPolicy", objects(pols.Items), err)
	stss, err := w.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	add("StatefulSet", objects(stss.Items), err)
	deps, err := w.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	add("Deployment", objects(deps.Items), err)
	pdbs, err := w.client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
	add("PodDisruptionBudget", objects(pdbs.Items), err)
	if len(v) < 8 {
		t.Fatalf("only %d objects in namespace %s: %v", len(v), ns, v)
	}
	return v
}

func objects[T any, P interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}
