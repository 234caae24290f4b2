package nodetest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// removeStaleCgroups removes what a killed run left: empty cgroups under nodetest-* roots.
func removeStaleCgroups() {
	seen := map[string]bool{}
	for _, h := range hierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "nodetest-") && !seen[e.Name()] {
				seen[e.Name()] = true
				_ = removeCgroups("/" + e.Name())
			}
		}
	}
}
