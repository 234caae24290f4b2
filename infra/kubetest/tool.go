package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tool is a pinned test tool built once per machine (kube-score, promtool).
type Tool struct {
	Bin string
	// VersionArgs make Bin print its version, which must contain Want.
	VersionArgs []string
	Want        string
	// Require is the environment variable that turns a missing tool from a skip into a
	// failure (CI sets it), Build how to build it, for the message.
	Require, Build string
}

// RequireTool returns tool.Bin if it is the pinned version; otherwise it skips t, or
// fails it when tool.Require is 1, saying how to build it.
func RequireTool(t testing.TB, tool Tool) string {
	t.Helper()
	out, err := exec.Command(tool.Bin, tool.VersionArgs...).CombinedOutput()
	if err == nil && !strings.Contains(string(out), tool.Want) {
		err = fmt.Errorf("%s is not %q: %s", tool.Bin, tool.Want, strings.TrimSpace(string(out)))
	}
	if err != nil {
		msg := fmt.Sprintf("%s checks disabled: %v; build it with %s", filepath.Base(tool.Bin), err, tool.Build)
		if os.Getenv(tool.Require) == "1" {
			t.Fatalf("%s (%s=1)", msg, tool.Require)
		}
		t.Skip(msg)
	}
	return tool.Bin
}
