package cleanup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	ns       = "counter"
	selector = "app.kubernetes.io/name=mysql,app.kubernetes.io/instance=dev"
)

var dbLabels = map[string]string{"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "dev"}

func claim(name, volume string, labels map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: volume},
	}
}

func volume(name, claimName string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claimName},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-0123"},
			},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
}

// cluster holds the database's claim and volume and an unrelated claim/volume pair
// that must survive.
func cluster() *fake.Clientset {
	return fake.NewClientset(
		claim("data-mysql-0", "pv-db", dbLabels),
		volume("pv-db", "data-mysql-0"),
		claim("other", "pv-other", map[string]string{"app.kubernetes.io/name": "other"}),
		volume("pv-other", "other"),
	)
}

// deleteVolumesWithClaims makes the fake behave like a CSI driver that deletes a
// volume as soon as its claim is deleted.
func deleteVolumesWithClaims(t *testing.T, client *fake.Clientset) {
	client.PrependReactor("delete", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		pvc, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), ns, name)
		if err != nil {
			return false, nil, nil // let the default reactor answer NotFound
		}
		pv := pvc.(*corev1.PersistentVolumeClaim).Spec.VolumeName
		if err := client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("persistentvolumes"), "", pv); err != nil {
			t.Errorf("simulated CSI driver: deleting %s: %v", pv, err)
		}
		return false, nil, nil
	})
}

func exists(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestDeleteVolumesDeletesSelectedClaimsAndWaitsForVolumes(t *testing.T) {
	ctx := t.Context()
	client := cluster()
	deleteVolumesWithClaims(t, client)

	if err := DeleteVolumes(ctx, client, Options{Namespace: ns, Selector: selector, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}

	_, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-mysql-0", metav1.GetOptions{})
	if exists(t, err) {
		t.Error("claim data-mysql-0 still exists")
	}
	_, err = client.CoreV1().PersistentVolumes().Get(ctx, "pv-db", metav1.GetOptions{})
	if exists(t, err) {
		t.Error("volume pv-db still exists")
	}
	_, err = client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "other", metav1.GetOptions{})
	if !exists(t, err) {
		t.Error("unselected claim was deleted")
	}
}

func TestDeleteVolumesIsIdempotent(t *testing.T) {
	client := cluster()
	deleteVolumesWithClaims(t, client)
	opts := Options{Namespace: ns, Selector: selector, Timeout: time.Minute}
	for i := range 2 {
		if err := DeleteVolumes(t.Context(), client, opts); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
}

func TestDeleteVolumesTimesOutNamingTheVolume(t *testing.T) {
	client := cluster() // no simulated driver: the volume never goes
	err := DeleteVolumes(t.Context(), client, Options{Namespace: ns, Selector: selector, Timeout: 10 * time.Millisecond})
	if err == nil {
		t.Fatal("DeleteVolumes succeeded although volume pv-db still exists")
	}
	for _, want := range []string{"pv-db", "phase Bound", "reclaimPolicy Delete", "ebs.csi.aws.com", "CSI driver", "Retain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pv-other") {
		t.Errorf("error names an unrelated volume:\n%v", err)
	}
}

// The StatefulSet's retention policy may have deleted the claim already: its volume,
// still waiting for the driver, is what must be waited for.
func TestDeleteVolumesWaitsForVolumesOfClaimsDeletedBefore(t *testing.T) {
	ctx := t.Context()
	client := cluster()
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data-mysql-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	retained := volume("pv-retained", "gone-too")
	retained.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	elsewhere := volume("pv-elsewhere", "data-mysql-0")
	elsewhere.Spec.ClaimRef.Namespace = "another"
	for _, pv := range []*corev1.PersistentVolume{retained, elsewhere} {
		if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	err := DeleteVolumes(ctx, client, Options{Namespace: ns, Selector: selector, Timeout: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "pv-db") {
		t.Fatalf("want a time-out naming pv-db, whose claim is gone; got %v", err)
	}
	// Kubernetes never deletes a Retain volume, and another namespace's is not ours.
	for _, name := range []string{"pv-retained", "pv-elsewhere", "pv-other"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("error names %s, which it should not wait for:\n%v", name, err)
		}
	}

	if err := client.CoreV1().PersistentVolumes().Delete(ctx, "pv-db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := DeleteVolumes(ctx, client, Options{Namespace: ns, Selector: selector, Timeout: time.Minute}); err != nil {
		t.Errorf("re-run once the volume is gone: %v", err)
	}
}

func TestDeleteVolumesRetriesAPIErrorsWhileWaiting(t *testing.T) {
	client := cluster()
	deleteVolumesWithClaims(t, client)
	failures := 1
	client.PrependReactor("get", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures > 0 {
			failures--
			return true, nil, errors.New("connection reset by peer")
		}
		return false, nil, nil
	})
	if err := DeleteVolumes(t.Context(), client, Options{Namespace: ns, Selector: selector, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if failures != 0 {
		t.Fatal("the injected API error was never hit")
	}
}

func TestDeleteVolumesRetainDeletesNothing(t *testing.T) {
	ctx := t.Context()
	client := cluster()
	var logs bytes.Buffer
	opts := Options{Namespace: ns, Selector: selector, Retain: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := DeleteVolumes(ctx, client, opts); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("Retain: unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	for _, want := range []string{"data-mysql-0", "pv-db", "vol-0123", "kubectl delete pv pv-db", "aws ec2 delete-volume --volume-id vol-0123", "stays billed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs.String())
		}
	}
	// Kept means kept beyond the claim: the namespace's deletion takes the claim anyway.
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pv-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Annotations[KeptFromAnnotation] != ns+"/data-mysql-0" {
		t.Errorf("kept volume: reclaimPolicy %s, annotations %v", pv.Spec.PersistentVolumeReclaimPolicy, pv.Annotations)
	}
}

func TestKeepVolumes(t *testing.T) {
	ctx := t.Context()
	db := claim("data-mysql-0", "pv-db", dbLabels)
	sts := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "mysql", UID: "sts-uid"}
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep-me", UID: "cm-uid"}
	db.OwnerReferences = []metav1.OwnerReference{sts, other}
	client := fake.NewClientset(db, volume("pv-db", "data-mysql-0"),
		claim("other", "pv-other", map[string]string{"app.kubernetes.io/name": "other"}), volume("pv-other", "other"))
	for range 2 { // idempotent
		if err := KeepVolumes(ctx, client, Options{Namespace: ns, Selector: selector}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-mysql-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].Kind != "ConfigMap" {
		t.Errorf("claim owners %v, want only the ConfigMap (the StatefulSet's would let the garbage collector take it)", c.OwnerReferences)
	}
	for name, want := range map[string]corev1.PersistentVolumeReclaimPolicy{"pv-db": corev1.PersistentVolumeReclaimRetain, "pv-other": corev1.PersistentVolumeReclaimDelete} {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.PersistentVolumeReclaimPolicy != want {
			t.Errorf("%s: reclaimPolicy %s, want %s", name, pv.Spec.PersistentVolumeReclaimPolicy, want)
		}
	}
}

// kept is a volume KeepVolumes kept for claimName in namespace, Released since the claim went.
func kept(name, namespace, claimName string) *corev1.PersistentVolume {
	pv := volume(name, claimName)
	pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: namespace, Name: claimName, UID: "deleted-claim-uid", ResourceVersion: "41"}
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	pv.Annotations = map[string]string{KeptFromAnnotation: namespace + "/" + claimName}
	pv.Status.Phase = corev1.VolumeReleased
	return pv
}

func TestAdoptVolumes(t *testing.T) {
	ctx := t.Context()
	notOurs := kept("pv-not-ours", ns, "data-mysql-0")
	notOurs.Annotations = nil // Retained by someone else: never taken
	client := fake.NewClientset(
		kept("pv-kept", ns, "data-mysql-0"),
		kept("pv-elsewhere", "other-ns", "data-mysql-0"),
		kept("pv-other-claim", ns, "data-other-0"),
		notOurs,
	)
	adopted, err := AdoptVolumes(ctx, client, ns, []string{"data-mysql-0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 1 || adopted[0] != "pv-kept" {
		t.Fatalf("adopted %v, want [pv-kept]", adopted)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pv-kept", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := pv.Spec.ClaimRef; ref.Namespace != ns || ref.Name != "data-mysql-0" || ref.UID != "" || ref.ResourceVersion != "" {
		t.Errorf("claimRef %+v, want %s/data-mysql-0 with no uid (so a new claim of that name binds it)", ref, ns)
	}
	for _, name := range []string{"pv-elsewhere", "pv-other-claim", "pv-not-ours"} {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.ClaimRef.UID != "deleted-claim-uid" {
			t.Errorf("%s was re-bound", name)
		}
	}
}

// TestDeleteVolumesDeletesAnAdoptedVolume: a volume kept once and adopted by a later stack
// is deleted when that stack is destroyed without retainVolumes, not left Retained.
func TestDeleteVolumesDeletesAnAdoptedVolume(t *testing.T) {
	pv := kept("pv-db", ns, "data-mysql-0")
	pv.Status.Phase = corev1.VolumeBound
	client := fake.NewClientset(claim("data-mysql-0", "pv-db", dbLabels), pv)
	// The driver deletes a released volume only if its reclaim policy says Delete.
	client.PrependReactor("delete", "persistentvolumeclaims", func(k8stesting.Action) (bool, runtime.Object, error) {
		got, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("persistentvolumes"), "", "pv-db")
		if err == nil && got.(*corev1.PersistentVolume).Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			_ = client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("persistentvolumes"), "", "pv-db")
		}
		return false, nil, nil
	})
	if err := DeleteVolumes(t.Context(), client, Options{Namespace: ns, Selector: selector, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(t.Context(), "pv-db", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("adopted volume after DeleteVolumes: %v", err)
	}
}

func TestDeleteVolumesRefusesEmptySelector(t *testing.T) {
	client := cluster()
	if err := DeleteVolumes(context.Background(), client, Options{Namespace: ns}); err == nil {
		t.Fatal("empty selector accepted: it would delete every claim in the namespace")
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d API calls made before refusing", n)
	}
}
