package stacktest

import (
	"os"
	"testing"
)

func TestRunRestoresEnvironment(t *testing.T) {
	t.Setenv("PULUMI_CONFIG", `{"other:key":"kept"}`)
	if _, err := Run(Config(nil)); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("PULUMI_CONFIG"); got != `{"other:key":"kept"}` {
		t.Errorf("PULUMI_CONFIG after Run = %q", got)
	}
}
