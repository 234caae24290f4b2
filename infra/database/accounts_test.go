package database

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/app/store"
)

// startWith runs the MySQL container's start script as the pod does, with a stand-in for
// the image's entrypoint that records what it is exec'd with, and returns those arguments.
func startWith(t *testing.T, dataDir, initDir, rootPassword, appPassword, exporterPassword string) []string {
	t.Helper()
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	entrypoint := filepath.Join(bin, "docker-entrypoint.sh")
	if err := os.WriteFile(entrypoint, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", startScript(), "mysql-start", dataDir, initDir, entrypoint, "mysqld")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "ARGS_FILE=" + argsFile,
		"MYSQL_ROOT_PASSWORD=" + rootPassword, envAppUser + "=" + AppUser, envAppPassword + "=" + appPassword,
		envExporterPassword + "=" + exporterPassword}
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("start script: %v, output %q (it must print nothing)", err, out)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestStartScriptAppliesTheSecretOnEveryStart runs the start script against a real server:
// a data directory initialised with passwords A, restarted with the Secret at B, lets root,
// the app user and the exporter in with B only, with exactly their privileges; the app
// continues above the numbers it handed out before, and no password appears in the
// server's log.
func TestStartScriptAppliesTheSecretOnEveryStart(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh not installed: install a POSIX shell to run the start script")
	}
	srv := mysqltest.New(t)
	if !srv.CanCrash() {
		t.Skip("needs a server of its own, restarted with --init-file; unset " + mysqltest.EnvDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A fresh data directory is the image entrypoint's to initialise: no init file.
	if args := startWith(t, t.TempDir(), t.TempDir(), "RootFresh1", "AppFresh1", "ExporterFresh1"); strings.Join(args, " ") != "mysqld" {
		t.Errorf("on a fresh data directory the script runs %q, want just mysqld", args)
	}

	// What the image's entrypoint created on first start: the database.
	if err := srv.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+schema.Database); err != nil {
		t.Fatal(err)
	}
	const rootA, appA, exporterA, rootB, appB, exporterB = "RootPasswordA1", "AppPasswordA1", "ExporterPasswordA1",
		"RootPasswordB2", "AppPasswordB2", "ExporterPasswordB2"
	// The init script's accounts: the exporter's is what the sidecar needs from the start.
	for _, stmt := range initSQL(t, appA, exporterA) {
		if err := srv.Exec(ctx, stmt); err != nil {
			t.Fatalf("the init script's SQL: %v", err)
		}
	}
	checkExporter(ctx, t, srv, exporterA)

	initDir := t.TempDir()
	restart := func(root, app, exporter string) {
		t.Helper()
		args := startWith(t, srv.DataDir(), initDir, root, app, exporter)
		file := filepath.Join(initDir, "accounts.sql")
		if len(args) != 2 || args[0] != "mysqld" || args[1] != "--init-file="+file {
			t.Fatalf("the script runs %q, want mysqld --init-file=%s", args, file)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("accounts file: %v, mode %v; want private (0600)", err, fi.Mode().Perm())
		}
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := srv.RestartWith(ctx, root, args[1:]...); err != nil {
			t.Fatalf("server with the accounts file: %v", err)
		}
	}

	tcp := func(user, password string) *mysql.Config {
		cfg, err := mysql.ParseDSN(srv.DSN(schema.Database))
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd = user, password
		return cfg
	}
	// The app's own store, as the app user: what it hands out before and after.
	add := func(password string) int64 {
		t.Helper()
		st, err := store.OpenMySQL(store.MySQLConfig(tcp(AppUser, password), 5*time.Second), 2)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Setup(ctx); err != nil {
			t.Fatalf("the app's set-up as %s: %v", AppUser, err)
		}
		last, err := st.Add(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}

	// A stack deployed before the exporter existed: its start script creates the account.
	if err := srv.Exec(ctx, "DROP USER '"+ExporterUser+"'@'"+exporterHost+"'"); err != nil {
		t.Fatal(err)
	}
	restart(rootA, appA, exporterA)
	before := add(appA)
	// Privileges someone added by hand must not survive the next start.
	for _, account := range []string{"'" + AppUser + "'@'%'", "'" + ExporterUser + "'@'" + exporterHost + "'"} {
		if err := srv.Exec(ctx, "GRANT DELETE, DROP ON "+schema.Database+".* TO "+account); err != nil {
			t.Fatal(err)
		}
	}
	restart(rootB, appB, exporterB) // a rotation, or a new stack's Secret on a kept volume
	if after := add(appB); after <= before {
		t.Errorf("after the restart with new passwords the app got %d, want above %d", after, before)
	}
	for _, tc := range []struct {
		what, dsn string
		ok        bool
	}{
		{"app user with B", tcp(AppUser, appB).FormatDSN(), true},
		{"app user with A", tcp(AppUser, appA).FormatDSN(), false},
		{"root@localhost with B", srv.SocketDSN("root", rootB), true},
		{"root@localhost with A", srv.SocketDSN("root", rootA), false},
		{"exporter with A", exporterDSN(t, srv, exporterA), false},
		// Its account is 127.0.0.1's only: the socket is localhost.
		{"exporter@localhost with B", srv.SocketDSN(ExporterUser, exporterB), false},
	} {
		err := ping(ctx, tc.dsn)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.what, err)
		}
		var denied *mysql.MySQLError
		if !tc.ok && !(errors.As(err, &denied) && denied.Number == erAccessDenied) {
			t.Errorf("%s: want access denied (1045), got %v", tc.what, err)
		}
	}

	checkExporter(ctx, t, srv, exporterB)

	grants := showGrants(ctx, t, srv.DSN(""), "'"+AppUser+"'@'%'")
	want := "GRANT " + schema.Privileges + " ON `" + schema.Database + "`.* TO `" + AppUser + "`@`%`"
	if len(grants) != 2 || !strings.HasPrefix(grants[0], "GRANT USAGE ON *.*") || grants[1] != want {
		t.Errorf("grants of the app user:\n  %s\nwant USAGE and exactly:\n  %s", strings.Join(grants, "\n  "), want)
	}

	log := srv.LogTail(1 << 20)
	for _, p := range []string{rootA, appA, exporterA, rootB, appB, exporterB} {
		if strings.Contains(log, p) {
			t.Errorf("the server's log holds a password")
		}
	}
}

// erAccessDenied is ER_ACCESS_DENIED_ERROR: a login refused.
const erAccessDenied = 1045

func ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

func showGrants(ctx context.Context, t *testing.T, dsn, account string) []string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR "+account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return grants
}

// initSQL is what the init script hands the entrypoint's server, one statement each: the
// script sourced as the entrypoint does, with docker_process_sql replaced by cat.
func initSQL(t *testing.T, appPassword, exporterPassword string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed: install bash to run the init script")
	}
	script := filepath.Join(t.TempDir(), initScriptName)
	if err := os.WriteFile(script, []byte(createAccounts()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", `set -eu; docker_process_sql() { cat; }; source "$1"`, "init", script)
	cmd.Env = []string{envAppUser + "=" + AppUser, envAppPassword + "=" + appPassword, envExporterPassword + "=" + exporterPassword}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("init script: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// exporterDSN is the exporter's login as the sidecar makes it: TCP from 127.0.0.1.
func exporterDSN(t *testing.T, srv *mysqltest.Server, password string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = ExporterUser, password
	return cfg.FormatDSN()
}

// checkExporter logs in as the exporter with password and checks it can run what
// mysqld_exporter v0.17 queries (its default collectors, and the processlist and
// performance_schema ones it offers) and nothing else: no data, no writes, no settings.
// Its grants are checked exactly, so a privilege added to exporterPrivileges fails here
// even where no query below would notice.
func checkExporter(ctx context.Context, t *testing.T, srv *mysqltest.Server, password string) {
	t.Helper()
	db := mysqltest.Open(t, exporterDSN(t, srv, password))
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&version); err != nil {
		t.Fatalf("the exporter's login: %v", err)
	}
	allowed := []string{
		"SHOW GLOBAL STATUS",
		"SHOW GLOBAL VARIABLES",
		"SELECT page_size, compress_ops, compress_ops_ok, compress_time, uncompress_ops, uncompress_time FROM information_schema.innodb_cmp",
		"SELECT page_size, buffer_pool_instance, pages_used, pages_free, relocation_ops, relocation_time FROM information_schema.innodb_cmpmem",
		"SELECT * FROM performance_schema.events_statements_summary_by_digest LIMIT 1",
		"SELECT * FROM performance_schema.table_io_waits_summary_by_table LIMIT 1",
		"SELECT * FROM performance_schema.file_summary_by_event_name LIMIT 1",
	}
	// MariaDB (the test world) calls the replica status privilege REPLICA MONITOR, which
	// MySQL, the pod's server, does not have; there REPLICATION CLIENT covers it.
	if !strings.Contains(version, "MariaDB") {
		allowed = append(allowed, "SHOW REPLICA STATUS")
	}
	for _, q := range allowed {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Errorf("as the exporter: %s: %v", q, err)
			continue
		}
		rows.Close()
	}
	// The processlist answers anyone, but shows other users' threads only with PROCESS.
	other := mysqltest.Open(t, srv.DSN(""))
	defer other.Close()
	if err := other.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	var others int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE user <> ?", ExporterUser).Scan(&others); err != nil || others == 0 {
		t.Errorf("as the exporter, other users' threads in the processlist: %d, %v; want root's", others, err)
	}
	for _, q := range []string{
		"SELECT value FROM " + schema.Database + "." + schema.Table,
		"INSERT INTO " + schema.Database + "." + schema.Table + " VALUES (2, 0)",
		"UPDATE " + schema.Database + "." + schema.Table + " SET value = value + 1",
		"CREATE TABLE " + schema.Database + ".exporter_was_here (n INT)",
		"CREATE DATABASE exporter_was_here",
		"SELECT user FROM mysql.user",
		"UPDATE performance_schema.setup_consumers SET enabled = 'NO'",
		"SET GLOBAL max_connections = 1",
	} {
		if _, err := db.ExecContext(ctx, q); !mysqltest.IsDenied(err) {
			t.Errorf("as the exporter: %s: %v, want access denied", q, err)
		}
	}

	account := "'" + ExporterUser + "'@'" + exporterHost + "'"
	grants := showGrants(ctx, t, srv.DSN(""), account)
	// MariaDB 10.5+ names REPLICATION CLIENT BINLOG MONITOR.
	global, _, _ := strings.Cut(strings.Replace(strings.TrimPrefix(grants[0], "GRANT "), "BINLOG MONITOR", "REPLICATION CLIENT", 1), " TO ")
	want := []string{"PROCESS, REPLICATION CLIENT ON *.*", "GRANT SELECT ON `performance_schema`.* TO `" + ExporterUser + "`@`" + exporterHost + "`"}
	if len(grants) != 2 || global != want[0] || grants[1] != want[1] {
		t.Errorf("grants of %s:\n  %s\nwant exactly:\n  GRANT %s ...\n  %s", account, strings.Join(grants, "\n  "), want[0], want[1])
	}
	// Its connection cap, which the stack's connection budget counts on.
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range ExporterMaxConnections {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
			conns = append(conns, c)
		}
		if err != nil {
			t.Fatalf("exporter connection %d of %d: %v", len(conns), ExporterMaxConnections, err)
		}
	}
	c, err := db.Conn(ctx)
	if err == nil {
		err = c.PingContext(ctx)
		c.Close()
	}
	var limit *mysql.MySQLError
	if !errors.As(err, &limit) || limit.Number != erUserLimitReached {
		t.Errorf("exporter connection %d: %v, want refused (max_user_connections, 1226)", ExporterMaxConnections+1, err)
	}
}

// erUserLimitReached is ER_USER_LIMIT_REACHED: an account over its MAX_USER_CONNECTIONS.
const erUserLimitReached = 1226
