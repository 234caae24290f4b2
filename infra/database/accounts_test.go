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
func startWith(t *testing.T, dataDir, initDir, rootPassword, appPassword string) []string {
	t.Helper()
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	entrypoint := filepath.Join(bin, "docker-entrypoint.sh")
	if err := os.WriteFile(entrypoint, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", startScript(), "mysql-start", dataDir, initDir, entrypoint, "mysqld")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "ARGS_FILE=" + argsFile,
		"MYSQL_ROOT_PASSWORD=" + rootPassword, envAppUser + "=" + AppUser, envAppPassword + "=" + appPassword}
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
// a data directory initialised with passwords A, restarted with the Secret at B, lets root
// and the app user in with B only, with exactly the app's privileges; the app continues
// above the numbers it handed out before, and no password appears in the server's log.
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
	if args := startWith(t, t.TempDir(), t.TempDir(), "RootFresh1", "AppFresh1"); strings.Join(args, " ") != "mysqld" {
		t.Errorf("on a fresh data directory the script runs %q, want just mysqld", args)
	}

	// What the image's entrypoint created on first start: the database.
	if err := srv.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+schema.Database); err != nil {
		t.Fatal(err)
	}
	initDir := t.TempDir()
	const rootA, appA, rootB, appB = "RootPasswordA1", "AppPasswordA1", "RootPasswordB2", "AppPasswordB2"
	restart := func(root, app string) {
		t.Helper()
		args := startWith(t, srv.DataDir(), initDir, root, app)
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

	restart(rootA, appA)
	before := add(appA)
	// Privileges someone added by hand must not survive the next start.
	if err := srv.Exec(ctx, "GRANT DELETE, DROP ON "+schema.Database+".* TO '"+AppUser+"'@'%'"); err != nil {
		t.Fatal(err)
	}
	restart(rootB, appB) // a rotation, or a new stack's Secret on a kept volume
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

	grants := showGrants(ctx, t, srv.DSN(""), AppUser)
	want := "GRANT " + schema.Privileges + " ON `" + schema.Database + "`.* TO `" + AppUser + "`@`%`"
	if len(grants) != 2 || !strings.HasPrefix(grants[0], "GRANT USAGE ON *.*") || grants[1] != want {
		t.Errorf("grants of the app user:\n  %s\nwant USAGE and exactly:\n  %s", strings.Join(grants, "\n  "), want)
	}

	log := srv.LogTail(1 << 20)
	for _, p := range []string{rootA, appA, rootB, appB} {
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

func showGrants(ctx context.Context, t *testing.T, dsn, user string) []string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR '"+user+"'@'%'")
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
