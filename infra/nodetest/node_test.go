package nodetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/nodetest"
)

// TestNodeRunsPods checks the node on its own, before any stack: a pod of the app image
// (on its embedded SQLite store) runs as a real container, passes its readiness probe,
// and answers through a ClusterIP Service (kube-proxy) whose name the cluster DNS
// (CoreDNS) resolves.
func TestNodeRunsPods(t *testing.T) {
	n := nodetest.Shared(t)
	c := n.Cluster
	ns := c.Namespace(t, nil)
	ctx := t.Context()
	labels := map[string]string{"app": "smoke"}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt(8080)}}, PeriodSeconds: 1}
	_, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "counter", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "counter", Image: nodetest.AppImage, ImagePullPolicy: corev1.PullNever,
			Env:            []corev1.EnvVar{{Name: "SQLITE_PATH", Value: "/data/counter.db"}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			ReadinessProbe: probe,
		}}, Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 2*time.Minute, "pod counter Ready by its probe", func(ctx context.Context) error {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "counter", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !kubetest.PodReady(p) {
			return fmt.Errorf("%s", podProblem(p))
		}
		return nil
	})
	name := "smoke." + ns + ".svc.cluster.local"
	kubetest.Eventually(t, time.Minute, "the Service's name "+name+" resolving to its ClusterIP", func(ctx context.Context) error {
		ips, err := n.Resolver().LookupHost(ctx, name)
		if err != nil {
			return err
		}
		if len(ips) != 1 || ips[0] != svc.Spec.ClusterIP {
			return fmt.Errorf("resolves to %v, want %s", ips, svc.Spec.ClusterIP)
		}
		return nil
	})
	url := fmt.Sprintf("http://%s:80", svc.Spec.ClusterIP)
	var first int64
	kubetest.Eventually(t, time.Minute, "a number through the Service "+url+" (kube-proxy)", func(ctx context.Context) error {
		first, _, err = getNumber(ctx, url)
		return err
	})
	if next, _, err := getNumber(ctx, url); err != nil || next <= first {
		t.Errorf("numbers %d then %d (%v): want increasing", first, next, err)
	}
}
