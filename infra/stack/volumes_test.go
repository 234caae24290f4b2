package stack

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/counter-mysql/counter-mysql/infra/kubeclient"
)

// TestReleaseFollowsRetain: the destroy hook's Release must keep the claim of a stack
// with retainVolumes, and delete it otherwise. A kept volume needs no final snapshot:
// with retainVolumes and finalSnapshot, no snapshot client is asked for.
func TestReleaseFollowsRetain(t *testing.T) {
	for _, retain := range []bool{true, false} {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
			Name: "data-mysql-0", Namespace: "counter", Labels: map[string]string{"app.kubernetes.io/name": "mysql"},
		}}
		client := fake.NewClientset(claim)
		kube := func() (kubeclient.Clients, error) { return kubeclient.Clients{Kube: client}, nil }
		v := clusterVolumes{kube: kube, timeout: 10 * time.Second, finalSnapshot: retain}
		err := v.Release(context.Background(), nil, "counter", "app.kubernetes.io/name=mysql", retain)
		if err != nil {
			t.Fatalf("retain=%v: %v", retain, err)
		}
		claims, err := client.CoreV1().PersistentVolumeClaims("counter").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if kept := len(claims.Items) == 1; kept != retain {
			t.Errorf("retain=%v: claim kept = %v", retain, kept)
		}
	}
}
