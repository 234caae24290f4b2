package kubetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveStaleDirs: only kubetest-* directories last changed before the cutoff go.
func TestRemoveStaleDirs(t *testing.T) {
	tmp := t.TempDir()
	old := time.Now().Add(-keepFailedFor - time.Hour)
	mk := func(name string, dir bool, at time.Time) string {
		p := filepath.Join(tmp, name)
		if dir {
			if err := os.MkdirAll(filepath.Join(p, "etcd"), 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk("kubetest-111", true, old)
	recent := mk("kubetest-222", true, time.Now().Add(-keepFailedFor+time.Hour))
	notDir := mk("kubetest-333", false, old)
	other := mk("mysqltest-444", true, old)
	if err := removeStaleDirs(tmp, time.Now().Add(-keepFailedFor)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s, changed %v ago, is still there (%v)", stale, keepFailedFor+time.Hour, err)
	}
	for _, kept := range []string{recent, notDir, other} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s was removed: %v", kept, err)
		}
	}
}

func TestMountedUnder(t *testing.T) {
	mounts := []string{"/", "/tmp/kubetest-10/rootfs", "/tmp/kubetest-2"}
	for dir, want := range map[string]string{
		"/tmp/kubetest-1":  "", // not a prefix match of kubetest-10
		"/tmp/kubetest-10": "/tmp/kubetest-10/rootfs",
		"/tmp/kubetest-2":  "/tmp/kubetest-2",
	} {
		if got := mountedUnder(mounts, dir); got != want {
			t.Errorf("mountedUnder(%s) = %q, want %q", dir, got, want)
		}
	}
	if got := unescapeMountPoint(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Errorf("unescaped %q", got)
	}
}
