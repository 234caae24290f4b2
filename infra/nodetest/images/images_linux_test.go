package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The refs the images are tagged with: two MySQL tags for one image, as a version upgrade
// in the node tier uses them.
var (
	appRef    = "docker.io/library/counter:nodetest"
	pauseRef  = "registry.k8s.io/pause:3.10"
	mysqlRefs = []string{"docker.io/library/mysql:8.4.3", "docker.io/library/mysql:8.4.4"}
)

// need skips t when the machine lacks something (or fails it under NODETEST_REQUIRE=1,
// where the tier must run).
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("NODETEST_REQUIRE") == "1" {
		t.Fatalf("NODETEST_REQUIRE=1 but %s", what)
	}
	t.Skip(what)
}

func have(program string) bool {
	_, err := exec.LookPath(program)
	return err == nil
}

func needRoot(t *testing.T) {
	t.Helper()
	need(t, os.Getuid() == 0, "not root: runc, containerd and the images' file owners need root")
}

func needMySQLSources(t *testing.T) {
	t.Helper()
	need(t, have("mariadbd") || have("/usr/sbin/mariadbd"), "mariadbd not installed: apt-get install mariadb-server mariadb-client")
	need(t, have("dpkg") && have("ldd"), "dpkg or ldd missing: the MySQL stand-in is built from Debian's packages")
	for _, pkg := range append([]string{"mariadb-client", "mariadb-server"}, mariadbPackages...) {
		out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
		need(t, strings.HasSuffix(string(out), " installed"), pkg+" not installed: apt-get install mariadb-server mariadb-client")
	}
	need(t, have("go"), "go not on PATH: the images compile Go programs")
}

// built holds the image tarballs, built once for all the tests in a directory TestMain
// removes.
var built struct {
	once                 sync.Once
	dir                  string
	app, pause, mysql    string
	appT, pauseT, mysqlT time.Duration
	err                  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// images builds the three images (once), or fails t.
func images(t *testing.T) (app, pause, mysql string) {
	t.Helper()
	built.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if built.dir, built.err = os.MkdirTemp("", "nodetest-images-"); built.err != nil {
			return
		}
		repoRoot, err := filepath.Abs("../../..")
		if err != nil {
			built.err = err
			return
		}
		built.app, built.pause, built.mysql = filepath.Join(built.dir, "app.tar"), filepath.Join(built.dir, "pause.tar"), filepath.Join(built.dir, "mysql.tar")
		start := time.Now()
		if built.err = MySQL(ctx, mysqlRefs, built.mysql); built.err != nil {
			return
		}
		built.mysqlT, start = time.Since(start), time.Now()
		if built.err = Pause(ctx, pauseRef, built.pause); built.err != nil {
			return
		}
		built.pauseT, start = time.Since(start), time.Now()
		built.err = App(ctx, repoRoot, appRef, built.app)
		built.appT = time.Since(start)
	})
	if built.err != nil {
		t.Fatalf("building the images: %v", built.err)
	}
	t.Logf("built the MySQL stand-in in %v, pause in %v, the app in %v", built.mysqlT.Round(time.Millisecond),
		built.pauseT.Round(time.Millisecond), built.appT.Round(time.Millisecond))
	return built.app, built.pause, built.mysql
}

// TestImportIntoContainerd imports the three tarballs, unpacked, into a containerd 1.6 of
// the test's own (root, state and socket in a temporary directory) and finds every tag in
// `ctr -n k8s.io images ls`, the namespace the kubelet's CRI plugin reads.
func TestImportIntoContainerd(t *testing.T) {
	needRoot(t)
	need(t, have("containerd") && have("ctr"), "containerd not installed: apt-get install containerd")
	needMySQLSources(t)
	app, pause, mysql := images(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ctr := startContainerd(ctx, t)
	for _, tarPath := range []string{app, pause, mysql} {
		if out, err := ctr(ctx, "images", "import", "--snapshotter", "native", tarPath); err != nil {
			t.Fatalf("ctr images import %s: %v\n%s", filepath.Base(tarPath), err, out)
		}
	}
	out, err := ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatalf("ctr images ls: %v\n%s", err, out)
	}
	listed := strings.Fields(out)
	for _, ref := range append([]string{appRef, pauseRef}, mysqlRefs...) {
		found := false
		for _, l := range listed {
			found = found || l == ref
		}
		if !found {
			t.Errorf("%s is not among the imported images: %q", ref, listed)
		}
	}
	// The kubelet starts images unpacked: each has a snapshot of its layers.
	if out, err := ctr(ctx, "snapshots", "--snapshotter", "native", "ls"); err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) < 1+3 {
		t.Errorf("snapshots after unpacking three images: %v\n%s", err, out)
	}
}

// startContainerd runs containerd on a temporary root, state and socket, without its CRI
// plugin (the test needs only the image store), and returns a ctr in namespace k8s.io
// against it. The daemon is stopped when the test ends, failed or not.
func startContainerd(ctx context.Context, t *testing.T) func(context.Context, ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "opt"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	daemon := exec.Command("containerd", "--config", configPath)
	daemon.Stdout, daemon.Stderr = log, log
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.tail(60))
		}
	})
	ctr := func(ctx context.Context, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for {
		if _, err := ctr(ctx, "version"); err == nil {
			return ctr
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited at start:\n%s", log.tail(40))
		case <-ctx.Done():
			t.Fatalf("containerd not serving on %s: %v\n%s", sock, ctx.Err(), log.tail(40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestMySQLUnderRunc runs the MySQL stand-in with runc as the StatefulSet's pod runs it
// (database.NodeTest: the start script, counter.cnf, the init script, the probes) with
// the pod's restrictions: uid 999, no capabilities, no new privileges, a read-only root
// filesystem with the pod's writable mounts only, and a network namespace of its own (only
// loopback; the test connects through the socket in the mounted /var/run/mysqld). The
// first start initialises the data directory and creates the app user; SIGTERM stops it
// cleanly; a second start on the same data, with the app's password rotated, does not
// initialise again and applies the new password.
func TestMySQLUnderRunc(t *testing.T) {
	ctx, bundle, cfg := runcBundle(t, 4*time.Minute)
	mysqlTest(ctx, t, bundle, cfg)
}

// runcBundle is the start of a test that runs the MySQL stand-in, or an image over it,
// under runc: it skips (fails under NODETEST_REQUIRE=1) without root, runc or what the
// images are built from, builds them once, and extracts the stand-in into a new bundle's
// rootfs. It returns a context that ends after timeout, the bundle and the stand-in's
// configuration.
func runcBundle(t *testing.T, timeout time.Duration) (context.Context, string, *v1.ConfigFile) {
	t.Helper()
	needRoot(t)
	need(t, have("runc"), "runc not installed: apt-get install runc")
	needMySQLSources(t)
	_, _, mysqlTar := images(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	bundle := t.TempDir()
	return ctx, bundle, extract(t, mysqlTar, mysqlRefs[0], filepath.Join(bundle, "rootfs"))
}

// TestPauseUnderRunc runs the pause program as PID 1 of a container (on the MySQL
// stand-in's files, for a shell to make orphans with): an orphan that exits is reaped, not
// left a zombie, and SIGTERM ends the container with status 0 at once.
func TestPauseUnderRunc(t *testing.T) {
	ctx, bundle, _ := runcBundle(t, time.Minute)
	_, pauseTar, _ := images(t)
	cfg := extract(t, pauseTar, pauseRef, filepath.Join(bundle, "rootfs"))
	uid, gid := userOf(t, cfg.Config.User)
	c := runContainer(ctx, t, "pause", bundle, spec{args: cfg.Config.Entrypoint, env: cfg.Config.Env, uid: uid, gid: gid})

	// The shell exits at once, so sleep's parent is gone: the kernel hands it to PID 1.
	if out, err := c.exec(ctx, "sh", "-c", "sleep 0.5 >/dev/null 2>&1 & exit 0"); err != nil {
		t.Fatalf("making an orphan: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.exec(ctx, "sh", "-c", `for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done`)
		if err != nil {
			t.Fatalf("listing processes: %v\n%s", err, out)
		}
		if !strings.Contains(out, "(sleep)") {
			break // exited and reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphan is still there 10 s on (state Z: not reaped):\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, took := c.stop(ctx, t, 10*time.Second)
	if status != 0 || took > 5*time.Second {
		t.Errorf("SIGTERM: pause exited with status %d after %v, want 0 at once\n%s", status, took, c.log.tail(20))
	}
}

// eachEntry reads the image tagged ref in the docker-archive tarPath, calls fn on every
// entry of its flattened layers in order (r reads a regular file's contents), and returns
// the image's configuration.
func eachEntry(t *testing.T, tarPath, ref string, fn func(h *tar.Header, r io.Reader) error) *v1.ConfigFile {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatalf("reading %s from %s: %v", ref, tarPath, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	flat := mutate.Extract(img)
	defer flat.Close()
	tr := tar.NewReader(flat)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return cfg
		}
		if err == nil {
			err = fn(h, tr)
		}
		if err != nil {
			t.Fatalf("reading %s's layers: %s: %v", ref, h.Name, err)
		}
	}
}

// extract unpacks the image tagged ref in the docker-archive tarPath into dir, with the
// owners and modes of its layers, and returns its configuration.
func extract(t *testing.T, tarPath, ref, dir string) *v1.ConfigFile {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return eachEntry(t, tarPath, ref, func(h *tar.Header, r io.Reader) error {
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		mode := h.FileInfo().Mode()
		var err error
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.Mkdir(target, 0o700)
			if errors.Is(err, os.ErrExist) {
				err = nil
			}
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				_, err = io.Copy(f, r)
				err = errors.Join(err, f.Close())
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
		default:
			err = fmt.Errorf("unexpected entry type %c", h.Typeflag)
		}
		if err == nil {
			err = os.Lchown(target, h.Uid, h.Gid)
		}
		if err == nil && h.Typeflag != tar.TypeSymlink {
			err = os.Chmod(target, mode.Perm()|mode&(os.ModeSticky|os.ModeSetuid|os.ModeSetgid)) // after chown, which clears set-id bits
		}
		return err
	})
}

// userOf parses an image's "uid:gid".
func userOf(t *testing.T, user string) (uid, gid int) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not uid:gid", user)
	}
	return uid, gid
}

// runcRoot keeps this package's runc state in one place, so a run killed before its
// cleanup leaves containers the next run can find and remove.
const runcRoot = "/run/counter-nodetest-images"

// idPrefix starts the ids of the containers this process runs.
var idPrefix = fmt.Sprintf("nodetest-%d-", os.Getpid())

var sweepOnce sync.Once

// sweep kills and deletes the containers of earlier test processes that are gone.
func sweep(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "runc", "--root", runcRoot, "list", "-q").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(id, "nodetest-"), "-", 2)[0])
		if !strings.HasPrefix(id, "nodetest-") || err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		_ = exec.CommandContext(ctx, "runc", "--root", runcRoot, "kill", id, "KILL").Run()
		_ = exec.CommandContext(ctx, "runc", "--root", runcRoot, "delete", "--force", id).Run()
	}
}

// spec is what a test container differs in.
type spec struct {
	args, env []string
	uid, gid  int
	hostname  string
	tmpfs     []string          // tmpfs mounts, mode 0777 as an emptyDir
	binds     map[string]string // container path -> host path, writable
	readOnly  map[string]string // container path -> host path, read-only
}

// writeBundle writes bundle/config.json: the container as the pod's security context
// makes it (uid and gid, fsGroup as a supplementary group, no capabilities, no new
// privileges, read-only root filesystem), in new PID, IPC, UTS, mount and network
// namespaces, with the default /proc, /dev and /sys.
func writeBundle(t *testing.T, bundle string, s spec) {
	t.Helper()
	none := []string{}
	// Containers inherit containerd's open-file limit; this process's hard limit stands in
	// for it (runc cannot raise it).
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	mounts := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": []string{"nosuid", "noexec", "nodev"}},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
	}
	for _, p := range s.tmpfs {
		mounts = append(mounts, map[string]any{"destination": p, "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=777", "size=256m"}})
	}
	for p, host := range s.binds {
		mounts = append(mounts, map[string]any{"destination": p, "type": "bind", "source": host, "options": []string{"rbind", "rw"}})
	}
	for p, host := range s.readOnly {
		mounts = append(mounts, map[string]any{"destination": p, "type": "bind", "source": host, "options": []string{"rbind", "ro"}})
	}
	hostname := s.hostname
	if hostname == "" {
		hostname = "nodetest"
	}
	config := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     map[string]any{"uid": s.uid, "gid": s.gid, "additionalGids": []int{s.gid}},
			"args":     s.args,
			"env":      append(append([]string{}, s.env...), "HOSTNAME="+hostname),
			"cwd":      "/",
			"capabilities": map[string]any{
				"bounding": none, "effective": none, "inheritable": none, "permitted": none, "ambient": none,
			},
			"rlimits":         []map[string]any{{"type": "RLIMIT_NOFILE", "hard": nofile.Max, "soft": nofile.Max}},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": hostname,
		"mounts":   mounts,
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}},
			"resources":  map[string]any{"memory": map[string]any{"limit": 2 << 30}},
			"maskedPaths": []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// container is one `runc run` in the foreground, as containerd's shim would supervise it.
type container struct {
	id     string
	log    *lockedBuffer
	exited chan struct{}
	state  *os.ProcessState
}

// runContainer writes the bundle's config and starts it. Whatever happens to the test, the
// container is killed and deleted when it ends.
func runContainer(ctx context.Context, t *testing.T, name, bundle string, s spec) *container {
	t.Helper()
	sweepOnce.Do(func() { sweep(ctx) })
	writeBundle(t, bundle, s)
	c := &container{id: idPrefix + name, log: &lockedBuffer{}, exited: make(chan struct{})}
	cmd := exec.Command("runc", "--root", runcRoot, "run", "--bundle", bundle, c.id)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = exec.Command("runc", "--root", runcRoot, "kill", c.id, "KILL").Run()
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		if out, err := exec.Command("runc", "--root", runcRoot, "delete", "--force", c.id).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "does not exist") { // as runc run leaves it
			t.Errorf("runc delete %s: %v\n%s", c.id, err, out)
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", c.id, c.log.tail(80))
		}
	})
	// Until runc has created it, the container does not exist for runc exec.
	for {
		out, err := exec.CommandContext(ctx, "runc", "--root", runcRoot, "state", c.id).Output()
		if err == nil && bytes.Contains(out, []byte(`"status": "running"`)) {
			return c
		}
		select {
		case <-c.exited:
			t.Fatalf("%s exited at start", c.id)
		case <-ctx.Done():
			t.Fatalf("%s not running: %v", c.id, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// exec runs args in the container as its process runs (user, environment, capabilities).
func (c *container) exec(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "runc", append([]string{"--root", runcRoot, "exec", c.id}, args...)...).CombinedOutput()
	return string(out), err
}

// stop sends SIGTERM to the container's PID 1, as the kubelet does, and returns its exit
// status and how long it took, or fails t after grace.
func (c *container) stop(ctx context.Context, t *testing.T, grace time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "runc", "--root", runcRoot, "kill", c.id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("runc kill %s TERM: %v\n%s", c.id, err, out)
	}
	select {
	case <-c.exited:
	case <-time.After(grace):
		t.Fatalf("%s still running %v after SIGTERM", c.id, grace)
	}
	return c.state.ExitCode(), time.Since(start) // runc run deletes the container as it exits
}

// lockedBuffer collects a process's output for the test to read while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the last n lines.
func (b *lockedBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
