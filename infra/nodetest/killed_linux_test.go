package nodetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// killedRunEnv makes this test binary, started by TestKilledRunLeavesNothing, the run it
// kills: TestKilledRun starts a node there and waits.
const killedRunEnv = "NODETEST_KILLED_RUN"

// readyMarker starts the line the killed run prints once its node runs a pod, followed by
// the node's directory and cgroup root.
const readyMarker = "nodetest: killed run ready:"

// TestKilledRun is the run TestKilledRunLeavesNothing kills: a node started as every
// run's, running a pod, then a wait for the kill, bounded in case it never comes.
func TestKilledRun(t *testing.T) {
	if os.Getenv(killedRunEnv) != "1" {
		t.Skip("only in the run TestKilledRunLeavesNothing starts and kills")
	}
	n := Shared(t)
	ns := n.Cluster.Namespace(t, nil)
	pods := n.Cluster.Client.CoreV1().Pods(ns)
	_, err := pods.Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pause"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: PauseImage, ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, time.Minute, "pod pause Running on the killed run's node", func(ctx context.Context) error {
		p, err := pods.Get(ctx, "pause", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	fmt.Println(readyMarker, n.Cluster.Dir, n.cgroupRoot)
	time.Sleep(3 * time.Minute)
	t.Error("not killed within 3 minutes")
}

// TestKilledRunLeavesNothing checks the package's promise: a run killed with SIGKILL while
// its node runs a pod leaves no process and no mount, only its empty cgroups (its lock on
// them released), which the next run's start removes, and its directory. That next run is
// this binary's own node, which starts after it (this package's tests run before
// nodetest_test's).
func TestKilledRunLeavesNothing(t *testing.T) {
	skip(t)
	mountsBefore := mountPoints(t)
	run := startKilledRun(t)

	t.Logf("kill -9 %d, the outermost of the run's %d processes: %s", run.cmd.Process.Pid, len(run.procs), run.names())
	if err := syscall.Kill(run.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = run.cmd.Wait()
	t.Cleanup(func() {
		if !t.Failed() { // kept with its logs otherwise
			_ = os.RemoveAll(run.dir)
		}
	})
	kubetest.Eventually(t, 30*time.Second, "every process of the killed run gone", func(context.Context) error {
		if left := run.survivors(); len(left) > 0 {
			return fmt.Errorf("still running: %s", strings.Join(left, ", "))
		}
		return nil
	})
	if added := slices.DeleteFunc(mountPoints(t), func(m string) bool { return slices.Contains(mountsBefore, m) }); len(added) > 0 {
		t.Errorf("mounts left by the killed run: %q", added)
	}

	lock := filepath.Join(lockDir, strings.TrimPrefix(run.cgroupRoot, "/")+".lock")
	if err := lockFree(lock); err != nil {
		t.Errorf("the killed run's cgroup lock: %v", err)
	}
	kubetest.Eventually(t, 10*time.Second, "the killed run's cgroups "+run.cgroupRoot+" empty", func(context.Context) error {
		return cgroupsEmpty(run.cgroupRoot)
	})
	t.Logf("its processes are gone, its mounts with them, and its cgroups %s are empty: the next run removes them", run.cgroupRoot)
	removeStaleCgroups() // what the next run's start does
	for _, h := range hierarchies() {
		if _, err := os.Stat(filepath.Join(h, run.cgroupRoot)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cgroup %s left after the next run's clean-up (%v)", filepath.Join(h, run.cgroupRoot), err)
		}
	}
	if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock %s left after the next run's clean-up (%v)", lock, err)
	}
	// Its directory stays, with its logs, as a failed run's does (removed above).
	if _, err := os.Stat(filepath.Join(run.dir, "kubelet.yaml")); err != nil {
		t.Errorf("the killed run's directory %s: %v", run.dir, err)
	}

	if err := Shared(t).ready(t.Context()); err != nil {
		t.Errorf("the next run's node %s is not Ready: %v", NodeName, err)
	}
}

// killedRun is a run of this test binary whose node runs a pod, about to be killed.
type killedRun struct {
	cmd             *exec.Cmd
	dir, cgroupRoot string
	procs           []proc // the run's processes, the outermost first
	pidNS           string // its sandbox's PID namespace
}

// startKilledRun starts this test binary again, outside this run's sandbox, as a run of
// TestKilledRun, and returns once its node runs a pod.
func startKilledRun(t *testing.T) *killedRun {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(exe, "-test.run=^TestKilledRun$", "-test.count=1", "-test.timeout=6m")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, sandboxEnv+"=") }), killedRunEnv+"=1")
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // only if the test failed before its kill
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan []string, 1)
	var output []string
	go func() {
		defer close(ready)
		for s := bufio.NewScanner(r); s.Scan(); {
			if rest, ok := strings.CutPrefix(s.Text(), readyMarker); ok {
				ready <- strings.Fields(rest)
				return
			}
			output = append(output, s.Text())
		}
	}()
	const timeout = 4 * time.Minute
	var fields []string
	select {
	case fields = <-ready: // nil if the run ended first
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		for range ready { // its processes die with it, and its output ends
		}
	}
	if len(fields) != 2 {
		t.Fatalf("the killed run's node running a pod within %s: not ready; its output:\n%s", timeout, strings.Join(output, "\n"))
	}
	all, err := readProcs()
	if err != nil {
		t.Fatal(err)
	}
	run := &killedRun{cmd: cmd, dir: fields[0], cgroupRoot: fields[1], procs: descendants(all, cmd.Process.Pid)}
	run.checkRunning(t)
	return run
}

// checkRunning checks that the run's node is up (the processes a pod needs run) and
// finds its sandbox's PID namespace.
func (run *killedRun) checkRunning(t *testing.T) {
	t.Helper()
	for _, p := range run.procs {
		if p.comm == "kubelet" {
			run.pidNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.pid))
		}
	}
	for _, want := range []string{"etcd", "kube-apiserver", "containerd", "kubelet", "containerd-shim", "pause"} {
		if !slices.ContainsFunc(run.procs, func(p proc) bool { return p.comm == want }) {
			t.Fatalf("the killed run runs no %s: %s", want, run.names())
		}
	}
	if run.pidNS == "" {
		t.Fatal("no PID namespace of the killed run's kubelet")
	}
}

// names are the run's processes' command names, with how many of each.
func (run *killedRun) names() string {
	count := map[string]int{}
	for _, p := range run.procs {
		count[p.comm]++
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(count)) {
		out = append(out, fmt.Sprintf("%s×%d", name, count[name]))
	}
	return strings.Join(out, " ")
}

// survivors names the run's processes still alive, and any other process of its PID
// namespace. It reaps those of them that are this process's zombies: this run's sandbox
// process is its PID namespace's init, which the killed run's orphans are given to.
func (run *killedRun) survivors() []string {
	now, err := readProcs()
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for _, p := range now {
		if p.state == 'Z' && p.ppid == os.Getpid() && slices.ContainsFunc(run.procs, p.same) {
			_, _ = syscall.Wait4(p.pid, nil, syscall.WNOHANG, nil)
			continue
		}
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.pid))
		if p.live() && (slices.ContainsFunc(run.procs, p.same) || ns == run.pidNS) {
			left = append(left, fmt.Sprintf("%s (%d)", p.comm, p.pid))
		}
	}
	return left
}

func (p proc) same(q proc) bool { return p.pid == q.pid && p.start == q.start }

// descendants are root and every process below it.
func descendants(all []proc, root int) []proc {
	var out []proc
	for _, p := range all {
		if p.pid == root {
			out = append(out, p)
		}
	}
	for i := 0; i < len(out); i++ {
		for _, p := range all {
			if p.ppid == out[i].pid {
				out = append(out, p)
			}
		}
	}
	return out
}

// mountPoints are this mount namespace's mounts, as id and mount point.
func mountPoints(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 5 {
			out = append(out, f[0]+" "+f[4])
		}
	}
	return out
}

// lockFree says whether lock exists and no process holds it.
func lockFree(lock string) error {
	f, err := os.Open(lock)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s still held: %w", lock, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// cgroupsEmpty says whether root's cgroups, in every hierarchy, hold no process.
func cgroupsEmpty(root string) error {
	for _, h := range hierarchies() {
		if pids := cgroupProcs(h, root); len(pids) > 0 {
			return fmt.Errorf("processes %v in %s", pids, filepath.Join(h, root))
		}
	}
	return nil
}
