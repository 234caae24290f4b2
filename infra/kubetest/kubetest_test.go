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

// TestStartStopsWhatItStarted checks Start's contract: when the test ends, every
// process it started has exited and its directory is gone.
func TestStartStopsWhatItStarted(t *testing.T) {
	skipWithoutBinaries(t)
	var c *Cluster
	t.Run("own cluster", func(t *testing.T) {
		c = Start(t)
		if _, err := c.Client.CoreV1().Nodes().Get(t.Context(), NodeName, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if c == nil {
		t.Fatal("Start returned no cluster")
	}
	for _, p := range c.procs {
		select {
		case <-p.done:
		default:
			t.Errorf("%s (pid %d) still running after the test ended", p.name, p.cmd.Process.Pid)
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed: %v", c.Dir, err)
	}
}
