package kubetest

import (
	"fmt"
	"os"
	"testing"
)

// shared is the control plane of one test binary.
var shared Fixture[*Cluster]

// Main runs the package's tests and then stops the shared cluster. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// If a test failed, the component logs are kept and their location printed.
func Main(m *testing.M) int {
	return shared.Run(m, "kubetest", func(c *Cluster, failed bool) error {
		if failed {
			defer fmt.Fprint(os.Stderr, "kubetest: ", c.LogReport())
		}
		return c.Stop(failed)
	})
}

// Shared returns the package's shared cluster, starting it on first use. Tests
// sharing it should each work in their own namespace (Cluster.Namespace). A failed
// start fails every test that asks, without retrying.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	skipWithoutBinaries(t)
	return shared.Get(t, "kubetest.Main(m)", func() (*Cluster, error) {
		c, err := start()
		if err == nil {
			t.Logf("control plane started; its logs are in %s", c.Dir)
		}
		return c, err
	})
}
