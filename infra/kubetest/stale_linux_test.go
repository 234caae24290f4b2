package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoveStaleDirsKeepsMounts: a stale directory with a file system still mounted
// under it (as a killed real-node run could leave) is kept, and the error says which.
func TestRemoveStaleDirsKeepsMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "kubetest-555")
	mnt := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, 0) })
	if err := os.WriteFile(filepath.Join(mnt, "what-the-mount-shows"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-keepFailedFor - time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	err := removeStaleDirs(tmp, time.Now().Add(-keepFailedFor))
	if err == nil || !strings.Contains(err.Error(), mnt+" is still mounted") {
		t.Errorf("error %v, want one naming %s as still mounted", err, mnt)
	}
	if _, err := os.Stat(filepath.Join(mnt, "what-the-mount-shows")); err != nil {
		t.Errorf("the mounted file system's content is gone: %v", err)
	}
}
