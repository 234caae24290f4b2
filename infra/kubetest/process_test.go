package kubetest

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A component started again under the same name adds to its log: the restart scenario of
// the real-node tier lost the kubelet's and containerd's logs of a failed CI run when the
// second start truncated them.
func TestRestartedProcessKeepsItsLog(t *testing.T) {
	dir := t.TempDir()
	for _, word := range []string{"first", "second"} {
		p, err := startProcess(dir, "component", "/bin/sh", "-c", "echo "+word)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("/bin/sh -c 'echo %s' still running after 30 s", word)
		}
	}
	b, err := os.ReadFile(dir + "/component.log")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.Contains(got, "first") || !strings.Contains(got, "second") {
		t.Errorf("component.log after two starts = %q, want both starts' output", got)
	}
}
