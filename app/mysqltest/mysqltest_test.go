package mysqltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestUserPrivilegesAreEnforced(t *testing.T) {
	t.Parallel()
	s := New(t)
	ctx := ctxFor(t)
	dbName := s.CreateDatabase(t)
	admin := Open(t, s.DSN(dbName))
	if _, err := admin.ExecContext(ctx, "CREATE TABLE c (id INT PRIMARY KEY, v BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "INSERT INTO c VALUES (1, 41)"); err != nil {
		t.Fatal(err)
	}

	reader := Open(t, s.CreateUser(t, dbName, "SELECT"))
	var v int64
	if err := reader.QueryRowContext(ctx, "SELECT v FROM c WHERE id = 1").Scan(&v); err != nil || v != 41 {
		t.Fatalf("SELECT as reader = %d, %v; want 41, nil", v, err)
	}
	_, err := reader.ExecContext(ctx, "UPDATE c SET v = v + 1 WHERE id = 1")
	wantDenied(t, "UPDATE by a SELECT-only user", err)
	_, err = reader.ExecContext(ctx, "SELECT user FROM mysql.user")
	wantDenied(t, "reading mysql.user by a user granted one database", err)

	writer := Open(t, s.CreateUser(t, dbName, "SELECT, UPDATE"))
	if _, err := writer.ExecContext(ctx, "UPDATE c SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatalf("UPDATE by a user granted UPDATE: %v", err)
	}
	_, err = writer.ExecContext(ctx, "DROP TABLE c")
	wantDenied(t, "DROP by a user not granted DROP", err)
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if !IsDenied(err) {
		t.Errorf("%s: got %v, want an access-denied error", what, err)
	}
}

func TestKillRestartKeepsCommittedData(t *testing.T) {
	t.Parallel()
	s := New(t)
	if !s.CanCrash() {
		t.Skip("external server (" + EnvDSN + "): cannot kill it")
	}
	ctx := ctxFor(t)
	dbName := s.CreateDatabase(t)
	db := Open(t, s.DSN(dbName))
	if _, err := db.ExecContext(ctx, "CREATE TABLE c (id INT PRIMARY KEY) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	const rows = 50
	for i := range rows {
		if _, err := db.ExecContext(ctx, "INSERT INTO c VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	addr := s.Addr()

	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running() after Kill")
	}
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded while the server is killed")
	}
	if err := s.Kill(); err == nil {
		t.Error("second Kill of a dead server succeeded")
	}

	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("Addr after restart = %s, want %s", s.Addr(), addr)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM c").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Errorf("after kill -9 and restart: %d committed rows, want %d", n, rows)
	}
	// A graceful shutdown would leave nothing to recover: this proves Kill was a crash.
	if log := s.LogTail(200); !strings.Contains(log, "crash recovery") {
		t.Errorf("error log shows no crash recovery after Kill and Restart:\n%s", log)
	}
	if err := s.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
}

func flushSetting(t *testing.T, s *Server) int {
	t.Helper()
	db := Open(t, s.DSN(""))
	var v int
	if err := db.QueryRowContext(ctxFor(t), "SELECT @@innodb_flush_log_at_trx_commit").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestServersAreIndependentAndConfigurable(t *testing.T) {
	t.Parallel()
	var log SyncBuffer
	a := New(t)
	b := NewWith(t, Options{ExtraArgs: []string{"--innodb-flush-log-at-trx-commit=2"}, LogWriter: &log})
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ctx := ctxFor(t)
	name := a.CreateDatabase(t)
	if err := b.Exec(ctx, "USE `"+name+"`"); err == nil {
		t.Errorf("database %s created on %s is visible on %s", name, a.Addr(), b.Addr())
	}
	if got := flushSetting(t, a); got != 1 {
		t.Errorf("default innodb_flush_log_at_trx_commit = %d, want 1 (durable)", got)
	}
	if got := flushSetting(t, b); got != 2 {
		t.Errorf("with ExtraArgs innodb_flush_log_at_trx_commit = %d, want 2", got)
	}
	// The log copier runs on its own; give it a bounded while to pass the line on.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "ready for connections"); {
		if time.Now().After(deadline) {
			t.Fatalf("LogWriter got no \"ready for connections\" line; it got:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStopRemovesProcessAndData(t *testing.T) {
	t.Parallel()
	s := New(t)
	if !s.CanCrash() {
		t.Skip("external server (" + EnvDSN + "): not ours to stop")
	}
	s.mu.Lock()
	pid := s.proc.cmd.Process.Pid
	s.mu.Unlock()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still there after Stop (%v)", s.dir, err)
	}
	// The pid was reaped by Wait, so it no longer exists (barring reuse by a new process).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d after Stop: kill -0 = %v, want ESRCH", pid, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.Restart(ctxFor(t)); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

// fakeTB records how New gives up, without ending the real test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func newWithFake(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(f)
		t.Error("New returned a server although the binary is missing")
	}()
	<-done
	return f
}

func TestNewSkipsWithoutServer(t *testing.T) {
	t.Setenv(EnvDSN, "")
	t.Setenv(EnvBinary, "/nonexistent/mariadbd")

	t.Setenv(EnvRequire, "")
	f := newWithFake(t)
	if !strings.Contains(f.skipped, "apt-get install mariadb-server") || !strings.Contains(f.skipped, EnvDSN) {
		t.Errorf("skip message %q does not say how to enable the tests", f.skipped)
	}

	t.Setenv(EnvRequire, "1")
	f = newWithFake(t)
	if f.skipped != "" || !strings.Contains(f.failed, EnvRequire) {
		t.Errorf("with %s set: skipped %q, failed %q; want a failure naming %s", EnvRequire, f.skipped, f.failed, EnvRequire)
	}

	if _, err := Start(ctxFor(t), Options{}); !errors.Is(err, ErrNoServer) {
		t.Errorf("Start without a binary: %v, want ErrNoServer", err)
	}
}

func TestAbandonedDirsAreRemoved(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Skipf("need a process that has exited: %v", err)
	}
	dir := func(owner string) string {
		d, err := os.MkdirTemp(shortTempDir(), dirPrefix+"sweeptest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	abandoned := dir(strconv.Itoa(exited.Process.Pid))
	live := dir(strconv.Itoa(os.Getpid()))
	unowned := dir("")

	removeAbandonedDirs()
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("directory of exited pid %d still there (%v)", exited.Process.Pid, err)
	}
	for _, d := range []string{live, unowned} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed although its owner may be alive: %v", d, err)
		}
	}
}
