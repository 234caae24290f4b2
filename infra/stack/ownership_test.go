package stack_test

import (
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/ownership"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// TestEveryObjectIsOwnedOutright: every Kubernetes object the stack registers, in both
// modes and with a restore, forces its server-side apply (package ownership), so a retry
// after a killed run converges instead of failing on a field conflict.
func TestEveryObjectIsOwnedOutright(t *testing.T) {
	for name, cfg := range map[string]map[string]string{
		"eks":      nil,
		"existing": {"mode": "existing"},
		"restore":  {"restoreFromSnapshot": "snap-0123456789abcdef0"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := stacktest.MustRun(t, cfg)
			n := 0
			for _, r := range rec.Resources {
				if !strings.HasPrefix(r.Type, "kubernetes:") {
					continue // the provider, components, AWS
				}
				n++
				if got := pulumitest.Strings(pulumitest.Field(r.Object(), "metadata", "annotations"))[ownership.ForceAnnotation]; got != "true" {
					t.Errorf("%s %s: annotation %s = %q, want \"true\"", r.Type, r.Name, ownership.ForceAnnotation, got)
				}
			}
			if n < 10 {
				t.Fatalf("only %d Kubernetes objects registered", n)
			}
		})
	}
}
