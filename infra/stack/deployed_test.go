package stack_test

import (
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// TestRefusedAgainstTheDeployedStack: a change the deployed database cannot take is
// refused before the program registers anything but the read of its own outputs, so
// `pulumi up --skip-preview` changes nothing either.
func TestRefusedAgainstTheDeployedStack(t *testing.T) {
	deployed := map[string]any{"mysqlVersion": "8.4", "mysqlStorageSize": "20Gi"}
	tests := []struct {
		config  map[string]string
		wantErr []string // empty: accepted
	}{
		{map[string]string{"mysqlVersion": "8.4.3"}, nil},
		{map[string]string{"mysqlVersion": "9.1", "mysqlStorageSize": "30Gi"}, nil},
		{map[string]string{"mysqlVersion": "8.0"}, []string{"counter-mysql:mysqlVersion", "8.4 -> 8.0", "set counter-mysql:mysqlVersion back to 8.4"}},
		{map[string]string{"mysqlStorageSize": "10Gi"}, []string{"counter-mysql:mysqlStorageSize 10Gi", "deployed volume's 20Gi", "set it back to 20Gi"}},
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
	// A new stack has nothing deployed to compare with.
	if _, err := stacktest.RunDeployed(stacktest.Config(map[string]string{"mysqlVersion": "8.0", "mysqlStorageSize": "1Gi"}), nil); err != nil {
		t.Errorf("a new stack was refused: %v", err)
	}
}
