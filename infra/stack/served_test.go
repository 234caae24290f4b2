package stack

import (
	"errors"
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/monitoring"
)

// A new EKS stack has no cluster to ask (so auto creates nothing and on is refused with the
// way out); a deployed one is asked through the kubeconfig it exported, an existing-mode
// stack through its configured one.
func TestServedByCluster(t *testing.T) {
	if _, err := servedByCluster(config.Config{Mode: config.ModeEKS}, Deployed{})(); !errors.Is(err, monitoring.ErrNoCluster) {
		t.Errorf("new EKS stack: %v, want ErrNoCluster", err)
	}
	for name, c := range map[string]struct {
		cfg config.Config
		d   Deployed
	}{
		"deployed EKS stack": {config.Config{Mode: config.ModeEKS}, Deployed{Kubeconfig: "/nonexistent/eks-kubeconfig"}},
		"existing mode":      {config.Config{Mode: config.ModeExisting, Kubeconfig: "/nonexistent/eks-kubeconfig"}, Deployed{}},
	} {
		_, err := servedByCluster(c.cfg, c.d)()
		if err == nil || !strings.Contains(err.Error(), "reaching the cluster") || !strings.Contains(err.Error(), "/nonexistent/eks-kubeconfig") {
			t.Errorf("%s: %v, want the kubeconfig it read named", name, err)
		}
	}
}
