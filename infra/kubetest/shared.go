package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the control plane of one test binary, started by the first test that
// asks for it and stopped by Main.
var shared struct {
	sync.Mutex
	inMain  bool
	started bool
	cluster *Cluster
	err     error
}

// Main runs the package's tests and then stops the shared cluster. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// If a test failed, the component logs are kept and their location printed.
func Main(m *testing.M) int {
	shared.Lock()
	shared.inMain = true
	shared.Unlock()

	code := m.Run()

	shared.Lock()
	defer shared.Unlock()
	if c := shared.cluster; c != nil {
		failed := code != 0
		if err := c.Stop(failed); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest:", err)
			code = 1
		}
		if failed {
			fmt.Fprint(os.Stderr, "kubetest: ", c.LogReport())
		}
	}
	return code
}

// Shared returns the package's shared cluster, starting it on first use. Tests
// sharing it should each work in their own namespace (Cluster.Namespace). A failed
// start fails every test that asks, without retrying.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	skipWithoutBinaries(t)
	shared.Lock()
	defer shared.Unlock()
	if !shared.inMain {
		t.Fatal("kubetest.Shared needs func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) } in the test package, which stops the cluster")
	}
	if !shared.started {
		shared.started = true
		shared.cluster, shared.err = start()
		if shared.err == nil {
			t.Logf("control plane started; its logs are in %s", shared.cluster.Dir)
		}
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}
