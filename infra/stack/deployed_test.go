package stack_test

import (
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/stack"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// TestRefusedAgainstTheDeployedStack: a change the deployed database cannot take is
// refused before the program registers anything but the read of its own outputs, so
// `pulumi up --skip-preview` changes nothing either.
func TestRefusedAgainstTheDeployedStack(t *testing.T) {
	deployed := map[string]any{"mysqlVersion": "8.4", "mysqlStorageSize": "20Gi", "kubernetesVersion": "1.35"}
	tests := []struct {
		config  map[string]string
		wantErr []string // empty: accepted
	}{
		{map[string]string{"mysqlVersion": "8.4.3"}, nil},
		{map[string]string{"mysqlVersion": "9.1", "mysqlStorageSize": "30Gi"}, nil},
		{map[string]string{"mysqlVersion": "8.0"}, []string{"counter-mysql:mysqlVersion", "8.4 -> 8.0", "set counter-mysql:mysqlVersion back to 8.4"}},
		{map[string]string{"mysqlImage": "localhost:5000/mysql:8.4.3"}, nil},
		// The image's tag is the version checked, and the message says where it came from.
		{map[string]string{"mysqlVersion": "8.0", "mysqlImage": "localhost:5000/mysql:8.0.40"}, []string{
			"8.4 -> 8.0.40 is a downgrade", `(8.0.40 is the tag of counter-mysql:mysqlImage "localhost:5000/mysql:8.0.40")`,
		}},
		{map[string]string{"mysqlStorageSize": "10Gi"}, []string{"counter-mysql:mysqlStorageSize 10Gi", "deployed volume's 20Gi", "set it back to 20Gi"}},
		{map[string]string{"kubernetesVersion": "1.35"}, nil},
		{map[string]string{"kubernetesVersion": "1.34"}, []string{"counter-mysql:kubernetesVersion: 1.35 -> 1.34 is a downgrade", "set counter-mysql:kubernetesVersion back to 1.35"}},
		// An existing-mode stack ignores the setting: it has no EKS cluster.
		{map[string]string{"kubernetesVersion": "1.34", "mode": "existing"}, nil},
	}
	for _, tt := range tests {
		rec, err := stacktest.RunDeployed(stacktest.Config(tt.config), deployed)
		if len(tt.wantErr) == 0 {
			if err != nil {
				t.Errorf("%v refused: %v", tt.config, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v accepted against %v", tt.config, deployed)
			continue
		}
		for _, want := range tt.wantErr {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error does not say %q: %v", tt.config, want, err)
			}
		}
		if len(rec.Resources) != 0 {
			t.Errorf("%v: registered %d resources before refusing", tt.config, len(rec.Resources))
		}
	}
	// Two minors up at once, from a cluster on 1.34.
	_, err := stacktest.RunDeployed(stacktest.Config(nil), map[string]any{"mysqlVersion": "8.4", "kubernetesVersion": "1.34"})
	if want := "counter-mysql:kubernetesVersion: 1.34 -> 1.36 skips 1 minor versions, and EKS upgrades one at a time: set counter-mysql:kubernetesVersion to 1.35"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want %q", err, want)
	}
	// A new stack has nothing deployed to compare with.
	if _, err := stacktest.RunDeployed(stacktest.Config(map[string]string{"mysqlVersion": "8.0", "mysqlStorageSize": "1Gi"}), nil); err != nil {
		t.Errorf("a new stack was refused: %v", err)
	}
}

// TestKubernetesVersionWarnings: preview warns, without refusing, when the version costs
// extended support, and when the deployed stack predates the kubernetesVersion output.
func TestKubernetesVersionWarnings(t *testing.T) {
	cfg := func(version string) config.Config {
		c, err := config.Parse(func(k string) string { return map[string]string{"kubernetesVersion": version}[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		version  string
		deployed stack.Deployed
		want     []string // one substring per warning
	}{
		{"1.36", stack.Deployed{}, nil},
		{"1.36", stack.Deployed{MySQLVersion: "8.4", KubernetesVersion: "1.36"}, nil},
		{"1.33", stack.Deployed{}, []string{"counter-mysql:kubernetesVersion 1.33 has been in EKS extended support since 2026-07-29"}},
		{"1.36", stack.Deployed{MySQLVersion: "8.4"}, []string{"the deployed stack predates its kubernetesVersion output"}},
	}
	for _, tt := range tests {
		warnings, err := stack.CheckKubernetesVersion(cfg(tt.version), tt.deployed, stacktest.Today)
		if err != nil {
			t.Errorf("%s, deployed %+v: %v", tt.version, tt.deployed, err)
			continue
		}
		if len(warnings) != len(tt.want) {
			t.Errorf("%s, deployed %+v: warnings %q, want %d", tt.version, tt.deployed, warnings, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(warnings[i], w) {
				t.Errorf("%s: warning %q does not say %q", tt.version, warnings[i], w)
			}
		}
	}
}
