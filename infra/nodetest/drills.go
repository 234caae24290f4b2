package nodetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// TagImage gives image src the reference dst too, as a push of the same image under a
// new tag would (a rolling update to a "new" app image).
func (n *Node) TagImage(ctx context.Context, src, dst string) error {
	_, err := n.ctr(ctx, "images", "tag", "--force", src, dst)
	return err
}

// Kill sends SIGKILL to every live process of the sandbox whose command name is comm
// (e.g. "mariadbd" inside the MySQL container) and returns how many it killed: a crash,
// with no chance to flush or shut down.
func Kill(comm string) (int, error) {
	pids, err := processes(func(name string) bool { return name == comm })
	if err != nil {
		return 0, err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return 0, fmt.Errorf("kill -9 %d (%s): %w", pid, comm, err)
		}
	}
	return len(pids), nil
}

// processes are the PIDs of the sandbox's live processes (not zombies) whose command
// name matches.
func processes(match func(comm string) bool) ([]int, error) {
	all, err := readProcs()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range all {
		if p.live() && match(p.comm) {
			pids = append(pids, p.pid)
		}
	}
	return pids, nil
}

// proc is a process as /proc/PID/stat shows it.
type proc struct {
	pid, ppid int
	comm      string
	state     byte
	// start is its start time since boot, in clock ticks: with pid, it names one
	// process, not a later one given the same PID.
	start string
}

func (p proc) live() bool { return p.state != 'Z' && p.state != 'X' }

// readProcs are the sandbox's processes. /proc is the sandbox's own: it sees only its PID
// namespace.
func readProcs() ([]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var all []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ... with the start time 22nd: comm may hold spaces and
		// parentheses, the fields from the state on follow the last ')'.
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		f := strings.Fields(s[close+1:])
		if open < 0 || close < open || len(f) < 20 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		all = append(all, proc{pid: pid, ppid: ppid, comm: s[open+1 : close], state: f[0][0], start: f[19]})
	}
	return all, nil
}

// Reboot is a power cut and restart of the node: the kubelet and containerd are killed,
// every container with them (runc's shims and everything in the pods' cgroups), then
// containerd and the kubelet start again on the same state and volumes, and Reboot
// returns once the Node is Ready. The control plane keeps running, as on a managed
// cluster.
func (n *Node) Reboot(ctx context.Context) error {
	for _, p := range []*kubetest.Process{n.kubelet, n.containerd} {
		if err := p.Kill(); err != nil {
			return err
		}
	}
	if err := killContainers(n.cgroupRoot); err != nil {
		return err
	}
	if err := n.runContainerd(ctx); err != nil {
		return err
	}
	return n.runKubelet(ctx, n.path("kubelet.yaml"))
}

// killContainers kills runc's shims and every process of the pods under cgroup root.
func killContainers(root string) error {
	shims, err := processes(func(comm string) bool { return strings.HasPrefix(comm, "containerd-shim") })
	if err != nil {
		return err
	}
	for _, pid := range shims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := killCgroup(root); err != nil {
		return fmt.Errorf("killing the pods' processes: %w", err)
	}
	return nil
}

// killCgroup sends SIGKILL to every process in root's cgroups (the pids hierarchy lists
// them all) until none is left.
func killCgroup(root string) error {
	for range 50 {
		pids := cgroupProcs(filepath.Join(cgroupFS, "pids"), root)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("processes are still left in " + root)
}

// cgroupProcs are the PIDs in hierarchy's cgroup root and the cgroups below it.
func cgroupProcs(hierarchy, root string) []int {
	var pids []int
	_ = filepath.WalkDir(filepath.Join(hierarchy, root), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}
