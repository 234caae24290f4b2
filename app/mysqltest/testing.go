package mysqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Environment variables that choose the server New uses.
const (
	// EnvDSN names an external server by its admin DSN, e.g. root@tcp(127.0.0.1:3306)/.
	// New then creates databases and users there and never kills it.
	EnvDSN = "COUNTER_TEST_MYSQL_DSN"
	// EnvBinary overrides the server executable New starts.
	EnvBinary = "COUNTER_TEST_MYSQLD"
	// EnvRequire, when non-empty, makes New fail instead of skip without a server (CI).
	EnvRequire = "COUNTER_TEST_REQUIRE_MYSQL"
)

// TB is the part of testing.TB the helpers use; *testing.T and *testing.B satisfy it.
// It is declared here, not imported, so that programs using Start (the load generator)
// do not link the testing package, whose flags and init would come with it. Methods
// taking a TB must live beside Server, so a separate helper package cannot replace this.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Error(args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Skip(args ...any)
}

// SkipMessage is what New skips with when no server is available.
const SkipMessage = "no MySQL-compatible server: install mariadb-server (apt-get install mariadb-server) or set " + EnvDSN

// TierMarker is logged by every test that runs on a server (New, NewWith, Require), before
// it may skip: `make test` (internal/testrun) counts the tests that log it as the MySQL tier.
const TierMarker = "mysqltest: this test runs on a MySQL-compatible server"

// Require marks t as running on a server and returns the server binary, for a test that
// starts its servers itself (Start); without one it skips t (fails it if
// $COUNTER_TEST_REQUIRE_MYSQL is set).
func Require(t TB) string {
	t.Helper()
	t.Logf("%s", TierMarker)
	return binaryOrSkip(t)
}

// binaryOrSkip is FindBinary's answer, or it skips (fails) t.
func binaryOrSkip(t TB) string {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		msg := fmt.Sprintf("%s (%v)", SkipMessage, err)
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s; %s is set, so this is a failure", msg, EnvRequire)
		}
		t.Skip(msg)
	}
	return bin
}

// New returns a server for the test: the external one in $COUNTER_TEST_MYSQL_DSN, else a
// throwaway one started here and stopped at cleanup (its log tail is printed if the test
// failed), else it skips the test (fails it if $COUNTER_TEST_REQUIRE_MYSQL is set).
func New(t TB) *Server {
	t.Helper()
	return NewWith(t, Options{})
}

// NewWith is New with options for the server started here, e.g. ExtraArgs for a negative
// control with --innodb-flush-log-at-trx-commit=0. Options cannot apply to an external
// server, so with $COUNTER_TEST_MYSQL_DSN set and options given the test is skipped.
func NewWith(t TB, opts Options) *Server {
	t.Helper()
	t.Logf("%s", TierMarker)
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		if opts.Binary != "" || len(opts.ExtraArgs) > 0 {
			t.Skip("mysqltest: this test configures its own server; unset " + EnvDSN + " to run it")
		}
		s, err := External(dsn)
		if err != nil {
			t.Fatalf("mysqltest: %s: %v", EnvDSN, err)
		}
		return s
	}
	if opts.Binary == "" {
		opts.Binary = binaryOrSkip(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mysqltest: %s error log tail (%s):\n%s", s.binary, s.Addr(), s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// External wraps a server someone else runs, given its admin DSN, after checking it answers.
func External(dsn string) (*Server, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DBName = ""
	s := &Server{admin: cfg, external: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Exec(ctx, "SELECT 1"); err != nil {
		return nil, err
	}
	return s, nil
}

// identifier is what CreateUser accepts as a database name: it is spliced into SQL.
var identifier = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// CreateDatabase creates a uniquely named empty database and returns its name. On an
// external server it is dropped at cleanup; a server started here is thrown away whole.
func (s *Server) CreateDatabase(t TB) string {
	t.Helper()
	name := "t_" + randomName()
	s.mustExec(t, "CREATE DATABASE `"+name+"`")
	s.cleanupExternal(t, "DROP DATABASE IF EXISTS `"+name+"`")
	return name
}

// userHosts covers how a loopback client may be matched: '%' with skip-name-resolve, and
// the specific hosts too, because an anonymous user (empty name) at 'localhost' on an
// external server would otherwise win over 'u'@'%' for clients it resolves to localhost.
var userHosts = []string{"%", "localhost", "127.0.0.1"}

// CreateUser creates a user with a random password, grants it privileges (SQL, e.g.
// "SELECT, UPDATE") on database.* only, and returns its DSN for that database.
func (s *Server) CreateUser(t TB, database, privileges string) string {
	t.Helper()
	if !identifier.MatchString(database) {
		t.Fatalf("mysqltest: CreateUser: database name %q is not a plain identifier", database)
	}
	user, password := "u_"+randomName(), randomName()
	for _, host := range userHosts {
		account := fmt.Sprintf("'%s'@'%s'", user, host)
		s.mustExec(t, "CREATE USER "+account+" IDENTIFIED BY '"+password+"'")
		s.cleanupExternal(t, "DROP USER IF EXISTS "+account)
		s.mustExec(t, "GRANT "+privileges+" ON `"+database+"`.* TO "+account)
	}
	cfg := s.admin.Clone()
	cfg.User, cfg.Passwd, cfg.DBName = user, password, database
	return cfg.FormatDSN()
}

// Open opens dsn and closes the pool at cleanup.
func Open(t TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (s *Server) mustExec(t TB, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, query); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) cleanupExternal(t TB, query string) {
	if !s.external {
		return
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Exec(ctx, query); err != nil {
			t.Error(err)
		}
	})
}

// randomName is 26 random lower-case letters and digits (128 bits), fit for MySQL
// identifiers and passwords.
func randomName() string { return strings.ToLower(rand.Text()) }

// IsDenied says whether err is a privilege refusal to a logged-in user: 1044 (database),
// 1142 (table command), 1227 (needs a global privilege) or 1410 (GRANT on MySQL 8). It
// is not true of 1045, a failed login, so a user that cannot log in proves nothing.
func IsDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && slices.Contains([]uint16{1044, 1142, 1227, 1410}, me.Number)
}

// SyncBuffer is a bytes.Buffer that several writers (a server's log copier, replicas'
// loggers) and the test may use at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
