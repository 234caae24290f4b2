package kubetest

import (
	"os"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestClusterServesItsVersionAndReadyNode(t *testing.T) {
	c := Shared(t)
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != Version {
		t.Errorf("server version %s, want %s (build flags of build.sh)", v.GitVersion, Version)
	}
	if _, err := c.Client.CoreV1().Nodes().Get(t.Context(), NodeName, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
}

func TestNamespaceHasDefaultServiceAccount(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t, map[string]string{"purpose": "kubetest"})
	got, err := c.Client.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["purpose"] != "kubetest" {
		t.Errorf("labels %v lack purpose=kubetest", got.Labels)
	}
}
