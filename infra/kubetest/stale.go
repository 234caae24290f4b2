package kubetest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// keepFailedFor is how long a run's directory outlives it when the run did not remove it:
// a failed run keeps its logs for reading (Stop), a killed run cannot remove its own. Each
// holds a few hundred MB (etcd, and on the real-node tier images and containers), and CI
// runs on the same machine every time, so every start removes the ones older than this.
// No run lasts that long (go test's -timeout ends them within hours).
const keepFailedFor = 24 * time.Hour

// removeStaleDirs removes the kubetest-* directories in tmp last changed before cutoff,
// except one that still has something mounted under it (a killed real-node run's
// container root, say): removing it would delete what the mount shows. It returns what it
// could not remove, for the caller to log; nothing here fails a start.
func removeStaleDirs(tmp string, cutoff time.Time) error {
	dirs, err := filepath.Glob(filepath.Join(tmp, "kubetest-*"))
	if err != nil {
		return err
	}
	mounts, err := mountPoints()
	if err != nil {
		return fmt.Errorf("kubetest: stale run directories kept, mounts unknown: %w", err)
	}
	var errs []error
	for _, dir := range dirs {
		info, err := os.Lstat(dir)
		if err != nil || !info.IsDir() || !info.ModTime().Before(cutoff) {
			continue
		}
		if m := mountedUnder(mounts, dir); m != "" {
			errs = append(errs, fmt.Errorf("kubetest: stale run directory %s kept: %s is still mounted (umount it, then remove the directory)", dir, m))
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("kubetest: removing stale run directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists this machine's mount points from /proc/self/mountinfo; none where
// there is no such file (macOS, where the tiers that mount do not run).
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		// Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
		if fields := strings.Fields(s.Text()); len(fields) > 4 {
			points = append(points, unescapeMountPoint(fields[4]))
		}
	}
	return points, s.Err()
}

var mountEscapes = strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)

func unescapeMountPoint(p string) string { return mountEscapes.Replace(p) }

// mountedUnder returns a mount point at or below dir, or "" if there is none.
func mountedUnder(mounts []string, dir string) string {
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+string(filepath.Separator)) {
			return m
		}
	}
	return ""
}
