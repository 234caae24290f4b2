package nodetest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// cgroupFS is where the machine mounts its cgroup hierarchies (v1, one per controller).
const cgroupFS = "/sys/fs/cgroup"

// hierarchies are the mounted cgroup hierarchies, each a directory of cgroupFS.
func hierarchies() []string {
	entries, _ := os.ReadDir(cgroupFS)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(cgroupFS, e.Name()))
		}
	}
	return dirs
}

// createCgroups makes the kubelet's cgroup root in every hierarchy: the kubelet refuses
// to start under one that does not exist. A new cpuset cgroup has no CPUs and no memory
// nodes, and no process can join it or any cgroup below it (runc's init then dies with
// "can't get final child's PID from pipe"), so the root's are copied in.
func createCgroups(root string) error {
	for _, h := range hierarchies() {
		dir := filepath.Join(h, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if filepath.Base(h) != "cpuset" {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(h, f))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
			if err != nil {
				return fmt.Errorf("cgroup %s: %w", dir, err)
			}
		}
	}
	return nil
}

// removeCgroups removes root's cgroups, deepest first. A cgroup with a process left in it
// cannot be removed; the sandbox's processes are all dead by the time this runs.
func removeCgroups(root string) error {
	var errs []error
	for _, h := range hierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// lockDir holds one lock file per node's cgroup root, held for the life of the test
// binary that uses the root: the kernel releases the lock however the process dies, so a
// root whose lock can be taken belongs to a run that is over.
var lockDir = filepath.Join(os.TempDir(), "nodetest-cgroups")

// heldLocks keeps this run's lock files open (and so locked) until the process exits.
var heldLocks []*os.File

// claimCgroupRoot returns a new cgroup root for a node, locked as this run's.
func claimCgroupRoot() (string, error) {
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(lockDir, "nodetest-*.lock")
	if err != nil {
		return "", err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return "", fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	heldLocks = append(heldLocks, f)
	return "/" + strings.TrimSuffix(filepath.Base(f.Name()), ".lock"), nil
}

// releaseCgroupRoot removes root's cgroups and then its lock file.
func releaseCgroupRoot(root string) error {
	if err := removeCgroups(root); err != nil {
		return err
	}
	return os.Remove(filepath.Join(lockDir, strings.TrimPrefix(root, "/")+".lock"))
}

// removeStaleCgroups removes the cgroups that killed runs left (their processes died with
// them, their directories stay), and only those: a root whose lock is still held belongs
// to a run in progress, maybe another package's.
func removeStaleCgroups() {
	locks, _ := filepath.Glob(filepath.Join(lockDir, "nodetest-*.lock"))
	for _, lock := range locks {
		f, err := os.Open(lock)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if removeCgroups("/"+strings.TrimSuffix(filepath.Base(lock), ".lock")) == nil {
				_ = os.Remove(lock)
			}
		}
		f.Close()
	}
}
