// Package mysqltest runs throwaway MariaDB or MySQL 8 servers on loopback for tests: each
// server gets its own short temporary directory, a free 127.0.0.1 port and durable InnoDB
// settings, and can be killed with SIGKILL and restarted on the same data to test crashes.
// Tests use New; programs (such as a load generator) use Start.
package mysqltest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrNoServer means no MariaDB or MySQL server binary was found.
var ErrNoServer = errors.New("no MySQL-compatible server binary (mariadbd or mysqld) found")

// ErrExternal is returned by the crash operations of a server this package did not start.
var ErrExternal = errors.New("mysqltest: external server cannot be killed or restarted")

// readyTimeout bounds each wait for the server to accept connections: crash recovery after
// Kill can take a while on a slow disk.
const readyTimeout = 60 * time.Second

// Options configure Start. The zero value is usable.
type Options struct {
	// Binary is the server executable (mariadbd or mysqld); empty means FindBinary.
	Binary string
	// ExtraArgs are appended to the server's command line, so they override the defaults.
	ExtraArgs []string
	// LogWriter, if set, also receives everything the server writes to its error log.
	LogWriter io.Writer
}

// Server is one MySQL-compatible server, started here or external (see New).
type Server struct {
	admin    *mysql.Config // root over TCP, no database
	external bool

	// Set only for servers started here.
	binary  string
	mariadb bool
	dir     string // holds data/, the socket, the error log
	args    []string
	opts    Options
	// For RestartWith: options added to the next launches, and root@localhost's password
	// (the socket login waitReady uses).
	launchArgs     []string
	socketPassword string

	mu      sync.Mutex
	proc    *process // nil before the first launch
	stopped bool
}

// process is one run of the server binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// FindBinary returns the server executable: $COUNTER_TEST_MYSQLD if set (which must exist,
// so tests can point it at a missing file to check the skip path), else mariadbd or mysqld
// from PATH, /usr/sbin or /usr/local/mysql/bin.
func FindBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNoServer, EnvBinary, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/mysql/bin"} {
			p := filepath.Join(dir, name)
			if _, err := exec.LookPath(p); err == nil {
				return p, nil
			}
		}
	}
	return "", ErrNoServer
}

// Start initialises a fresh data directory, starts the server on a free 127.0.0.1 port and
// returns once it accepts connections. The caller must Stop it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Binary == "" {
		bin, err := FindBinary()
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	version, err := exec.CommandContext(ctx, opts.Binary, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %s --version: %v: %s", opts.Binary, err, version)
	}
	removeAbandonedDirs()
	dir, err := os.MkdirTemp(shortTempDir(), dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("mysqltest: %w", err), os.RemoveAll(dir))
	}
	s := &Server{
		binary:  opts.Binary,
		mariadb: bytes.Contains(bytes.ToLower(version), []byte("mariadb")),
		dir:     dir,
		opts:    opts,
	}
	if err := s.start(ctx); err != nil {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		return nil, errors.Join(err, s.removeDir())
	}
	return s, nil
}

// start initialises the data directory and launches the server, trying another port if the
// free one found was taken in between.
func (s *Server) start(ctx context.Context) error {
	if err := s.initDataDir(ctx); err != nil {
		return err
	}
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		s.args = s.serverArgs(port)
		s.admin = rootConfig("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err = s.launch(ctx); err == nil {
			return s.allowRootOverTCP(ctx)
		}
		if !strings.Contains(s.LogTail(20), "already in use") {
			return err
		}
	}
	return err
}

const (
	dirPrefix = "mysqltest-"
	ownerFile = "owner.pid" // the pid of the process that started the server
)

// removeAbandonedDirs deletes the directories of servers whose starting process is gone: a
// test binary killed by its timeout runs no cleanup, and its servers die with it (Pdeathsig)
// but leave tens of MB each. Directories whose owner may be alive are left alone.
func removeAbandonedDirs() {
	dirs, _ := filepath.Glob(filepath.Join(shortTempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(string(b))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(dir) // best effort: another process may be sweeping it too
		}
	}
}

// shortTempDir keeps the socket path under the 107-byte limit even when TMPDIR is deep.
func shortTempDir() string {
	if d := os.TempDir(); len(d) <= 40 {
		return d
	}
	return "/tmp"
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) socket() string  { return filepath.Join(s.dir, "s.sock") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "error.log") }

// flavorArgs are the options that differ between MariaDB and MySQL 8.
func (s *Server) flavorArgs() []string {
	if s.mariadb {
		return []string{"--innodb-log-file-size=16M"}
	}
	// X Protocol would listen on a fixed port on every interface.
	return []string{"--mysqlx=OFF"}
}

// userArgs lets the server run as root, which it refuses without being told.
func userArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

func (s *Server) serverArgs(port int) []string {
	args := []string{
		"--no-defaults", // must come first: ignore /etc/mysql and ~/.my.cnf
		"--datadir=" + s.dataDir(),
		"--socket=" + s.socket(),
		"--pid-file=" + filepath.Join(s.dir, "server.pid"),
		"--tmpdir=" + s.dir,
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		// Durable commits: crash tests must catch numbers handed out twice after kill -9.
		"--innodb-flush-log-at-trx-commit=1",
		"--skip-log-bin",
		"--innodb-buffer-pool-size=32M",
		"--performance-schema=OFF",
		"--max-connections=1000",
	}
	args = append(args, userArgs()...)
	args = append(args, s.flavorArgs()...)
	return append(args, s.opts.ExtraArgs...)
}

func (s *Server) initDataDir(ctx context.Context) error {
	// A private tmpdir: a starting server deletes every "#sql*" file in its tmpdir, so
	// initialisations sharing /tmp delete each other's temporary tables and fail.
	args := append([]string{"--no-defaults", "--datadir=" + s.dataDir(), "--tmpdir=" + s.dir}, userArgs()...)
	var cmd *exec.Cmd
	if s.mariadb {
		script, basedir := installDBScript(s.binary)
		args = append(args, "--auth-root-authentication-method=normal", "--skip-test-db")
		if basedir != "" {
			args = append(args, "--basedir="+basedir)
		}
		cmd = exec.CommandContext(ctx, script, append(args, s.flavorArgs()...)...)
	} else {
		cmd = exec.CommandContext(ctx, s.binary, append(args, "--initialize-insecure")...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mysqltest: initialising data directory with %s: %v\n%s", cmd.Path, err, tail(string(out), 30))
	}
	return nil
}

// installDBScript finds mariadb-install-db for the given mariadbd: in a binary tarball it
// sits in scripts/ beside bin/ (then basedir is returned so the script uses that server),
// else it is the one on PATH.
func installDBScript(binary string) (script, basedir string) {
	base := filepath.Dir(filepath.Dir(binary))
	if p := filepath.Join(base, "scripts", "mariadb-install-db"); fileExists(p) {
		return p, base
	}
	for _, name := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, ""
		}
	}
	return "mariadb-install-db", ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freePort asks the kernel for an unused loopback port. Another process may take it before
// the server binds it; start retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mysqltest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func rootConfig(netw, addr string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = netw
	cfg.Addr = addr
	return cfg
}

// launch starts the server process on the prepared directory and waits until it accepts
// connections on its socket.
func (s *Server) launch(ctx context.Context) error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	cmd := exec.Command(s.binary, append(slices.Clone(s.args), s.launchArgs...)...)
	var out io.Writer = log
	if s.opts.LogWriter != nil {
		out = io.MultiWriter(log, s.opts.LogWriter)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("mysqltest: starting %s: %w", s.binary, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status says nothing useful after a SIGKILL; the log does
		log.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	if err := s.waitReady(ctx, p); err != nil {
		return errors.Join(err, p.signalAndWait(syscall.SIGKILL, 30*time.Second))
	}
	return nil
}

// waitReady polls the unix socket until the server answers, the process exits, or the
// ready timeout or ctx ends.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db := s.openSocket()
	defer db.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pingCtx)
		pingCancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("mysqltest: %s exited before accepting connections; log tail:\n%s", s.binary, s.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("mysqltest: %s not accepting connections (%v, last error: %v); log tail:\n%s", s.binary, ctx.Err(), err, s.LogTail(20))
		case <-tick.C:
		}
	}
}

func (s *Server) openSocket() *sql.DB {
	cfg := rootConfig("unix", s.socket())
	cfg.Passwd = s.socketPassword
	cfg.Timeout = 2 * time.Second
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // the config is built here and always valid
	}
	return sql.OpenDB(c)
}

// allowRootOverTCP makes root@127.0.0.1 exist: MySQL 8 creates root@localhost only, which
// skip-name-resolve never matches for TCP clients.
func (s *Server) allowRootOverTCP(ctx context.Context) error {
	db := s.openSocket()
	defer db.Close()
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysqltest: %s: %w", q, err)
		}
	}
	return s.Exec(ctx, "SELECT 1")
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.admin.Addr }

// DSN is a root (admin) DSN for database ("" for none) in go-sql-driver/mysql format.
func (s *Server) DSN(database string) string {
	cfg := s.admin.Clone()
	cfg.DBName = database
	return cfg.FormatDSN()
}

// Exec runs one statement as root on a fresh connection, so it works across Kill/Restart.
func (s *Server) Exec(ctx context.Context, query string, args ...any) error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("mysqltest: %s: %w", query, err)
	}
	return nil
}

// CanCrash says whether Kill and Restart work (false for an external server).
func (s *Server) CanCrash() bool { return !s.external }

// Running says whether the server process started here is alive (always true for an
// external server, which this package cannot observe).
func (s *Server) Running() bool {
	if s.external {
		return true
	}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	return p != nil && !p.exited()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// PID is the server process's id, for reading its CPU time; 0 for an external server or
// one not running.
func (s *Server) PID() int {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if s.external || p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL to the server process (no shutdown, like a power cut for the server
// though not for the OS page cache) and waits until it has exited.
func (s *Server) Kill() error {
	if s.external {
		return ErrExternal
	}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil || p.exited() {
		return errors.New("mysqltest: Kill: server is not running")
	}
	return p.signalAndWait(syscall.SIGKILL, 30*time.Second)
}

// signalAndWait signals exactly the process started here and waits (bounded) for it to exit.
func (p *process) signalAndWait(sig syscall.Signal, wait time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("mysqltest: signal %v to pid %d: %w", sig, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("mysqltest: pid %d still running %v after %v", p.cmd.Process.Pid, wait, sig)
	}
}

// Restart starts the server again on the same data directory and port, after Kill, and
// returns when it accepts connections (InnoDB crash recovery included).
func (s *Server) Restart(ctx context.Context) error {
	if s.external {
		return ErrExternal
	}
	s.mu.Lock()
	p, stopped := s.proc, s.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("mysqltest: Restart: server was stopped and its data removed")
	}
	if p != nil && !p.exited() {
		return errors.New("mysqltest: Restart: server is still running; Kill it first")
	}
	return s.launch(ctx)
}

// RestartWith is Restart with extraArgs added to the server's command line (from now on),
// for tests of start-up options such as --init-file. rootPassword is root@localhost's
// password from then on, if those options change it (the TCP admin account the harness
// made, root@127.0.0.1, is left alone by such tests).
func (s *Server) RestartWith(ctx context.Context, rootPassword string, extraArgs ...string) error {
	s.launchArgs, s.socketPassword = extraArgs, rootPassword
	return s.Restart(ctx)
}

// DataDir is the server's data directory (servers started here only).
func (s *Server) DataDir() string { return s.dataDir() }

// SocketDSN is a DSN for user over the server's unix socket, where MySQL sees the client
// as user@localhost (servers started here only).
func (s *Server) SocketDSN(user, password string) string {
	cfg := rootConfig("unix", s.socket())
	cfg.User, cfg.Passwd = user, password
	return cfg.FormatDSN()
}

// Stop shuts the server down gracefully (SIGKILL if that takes over a minute) and removes
// its directory. Stopping twice is a no-op; an external server is left alone.
func (s *Server) Stop() error {
	if s.external {
		return nil
	}
	s.mu.Lock()
	p, stopped := s.proc, s.stopped
	s.stopped = true
	s.mu.Unlock()
	if stopped {
		return nil
	}
	var err error
	if p != nil && !p.exited() {
		if err = p.signalAndWait(syscall.SIGTERM, time.Minute); err != nil {
			err = errors.Join(err, p.signalAndWait(syscall.SIGKILL, 30*time.Second))
		}
	}
	return errors.Join(err, s.removeDir())
}

func (s *Server) removeDir() error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("mysqltest: removing %s: %w", s.dir, err)
	}
	return nil
}

// LogTail returns the last n lines of the server's error log ("" for an external server).
func (s *Server) LogTail(n int) string {
	if s.external {
		return ""
	}
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no error log: %v)", err)
	}
	return tail(string(b), n)
}

func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
