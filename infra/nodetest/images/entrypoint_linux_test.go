package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stub stands in for MariaDB's programs in TestEntrypointContract, bind-mounted over them
// in the image: it records every call, with the option files and SQL it is given, in
// /out/calls. The temporary server runs until mysqladmin shutdown.
const stub = `#!/bin/sh
calls=/out/calls
name=${0##*/}
case "$name" in
mysqld) name=mariadbd ;;
mysql) name=mariadb ;;
mysqladmin) name=mariadb-admin ;;
esac
case "$name" in
mariadbd)
	case " $* " in
	*" --verbose --help "*)
		printf 'datadir    /var/lib/mysql/data/\nsocket    /var/run/mysqld/mysqld.sock\npid-file    /var/run/mysqld/mysqld.pid\n'
		exit 0 ;;
	*" --version "*) echo "mariadbd  Ver 10.11.0-MariaDB-stub"; exit 0 ;;
	*" --skip-networking "*)
		echo "temp $*" >>$calls
		: >/var/run/mysqld/up
		while [ ! -e /var/run/mysqld/down ]; do sleep 0.05; done
		exit 0 ;;
	esac
	echo "exec $*" >>$calls ;;
mariadb-install-db)
	echo "install $*" >>$calls
	mkdir -p /var/lib/mysql/data/mysql ;;
mariadb | mariadb-admin)
	[ -e /var/run/mysqld/up ] || exit 1
	{
		echo "$name $*"
		for a; do case "$a" in --defaults-extra-file=*) cat "${a#*=}" ;; esac; done
		[ "$name" = mariadb ] && cat
		echo "--"
	} >>$calls
	[ "$name" = mariadb-admin ] && : >/var/run/mysqld/down
	exit 0 ;;
esac
`

// TestEntrypointContract runs the stand-in's docker-entrypoint.sh in the image (under
// runc, as uid 999 on a read-only root) with MariaDB's programs replaced by a recording
// stub, through the parts of the official contract the MySQL run does not take: MYSQL_USER
// and MYSQL_PASSWORD, MYSQL_ROOT_HOST, *_FILE, MYSQL_RANDOM_ROOT_PASSWORD,
// MYSQL_ONETIME_PASSWORD, *.sql, *.sql.gz and executable *.sh init files in sorted order,
// options as the command, a data directory that exists, a command that is not mysqld, and
// the refusal without a password.
func TestEntrypointContract(t *testing.T) {
	ctx, bundle, cfg := runcBundle(t, time.Minute)
	stubs := t.TempDir()
	if err := os.WriteFile(filepath.Join(stubs, "stub"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	secrets := dirWith(t, map[string]string{"root": "r00t'pw\n"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("SELECT 'from b.sql.gz';\n"))
	_ = zw.Close()
	initdb := dirWith(t, map[string]string{
		"10-a.sql":    "SELECT 'from a.sql';\n",
		"20-b.sql.gz": gz.String(),
		"30-c.sh":     "echo \"SELECT 'from c.sh';\" | docker_process_sql --database=other\n",
		"40-d.sh":     "#!/bin/sh\necho \"d.sh ran as $(id -u)\" >>/out/calls\n",
		"50-e.txt":    "not run\n",
	})
	if err := os.Chmod(filepath.Join(initdb, "40-d.sh"), 0o755); err != nil {
		t.Fatal(err)
	}

	// run starts the entrypoint with args and env on a fresh volume (with data/mysql if
	// initialised) and returns its output, exit status and the stub's record.
	run := func(name string, initialised bool, args []string, env ...string) (string, int, string) {
		t.Helper()
		volume, socketDir, out := t.TempDir(), t.TempDir(), t.TempDir()
		if initialised {
			if err := os.MkdirAll(filepath.Join(volume, "data", "mysql"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{volume, socketDir, out} {
			if err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
				return errors.Join(err, os.Chown(p, MySQLUID, MySQLUID))
			}); err != nil {
				t.Fatal(err)
			}
		}
		s := spec{
			args: args, env: append(append([]string{}, cfg.Config.Env...), env...), uid: MySQLUID, gid: MySQLUID,
			tmpfs: []string{"/tmp"},
			binds: map[string]string{"/var/lib/mysql": volume, "/var/run/mysqld": socketDir, "/out": out},
			readOnly: map[string]string{
				"/docker-entrypoint-initdb.d": initdb, "/run/secrets": secrets,
				"/usr/sbin/mariadbd": filepath.Join(stubs, "stub"), "/usr/bin/mariadb": filepath.Join(stubs, "stub"),
				"/usr/bin/mariadb-admin": filepath.Join(stubs, "stub"), "/usr/bin/mariadb-install-db": filepath.Join(stubs, "stub"),
			},
		}
		log, status := runToEnd(ctx, t, "entrypoint-"+name, bundle, s)
		calls, _ := os.ReadFile(filepath.Join(out, "calls"))
		return log, status, string(calls)
	}
	contains := func(what, text string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, text)
			}
		}
	}

	// Everything at once, with options as the command.
	log, status, calls := run("full", false, []string{"docker-entrypoint.sh", "--foo=bar"},
		"MYSQL_ROOT_PASSWORD_FILE=/run/secrets/root", "MYSQL_ROOT_HOST=10.%", "MYSQL_DATABASE=my_db",
		"MYSQL_USER=app", "MYSQL_PASSWORD=app-pw")
	if status != 0 {
		t.Fatalf("entrypoint exited %d:\n%s\ncalls:\n%s", status, log, calls)
	}
	contains("the calls", calls,
		"install --datadir=/var/lib/mysql/data --rpm",
		"temp --foo=bar --skip-networking",
		"[client]\npassword=\"r00t'pw\"",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY 'r00t\\'pw' ;",
		"CREATE USER 'root'@'10.%' IDENTIFIED BY 'r00t\\'pw' ;",
		"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';",
		"CREATE DATABASE IF NOT EXISTS `my_db` ;",
		"CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw' ;",
		"GRANT ALL ON `my\\_db`.* TO 'app'@'%' ;",
		"--comments --database=my_db --database=other\n[client]", // a sourced script's own database wins
		"d.sh ran as 999",
		"mariadb-admin --defaults-extra-file=/dev/fd/3 -uroot --socket=/var/run/mysqld/mysqld.sock shutdown",
		"exec --foo=bar\n",
	)
	order := regexp.MustCompile(`(?s)from a\.sql.*from b\.sql\.gz.*from c\.sh.*d\.sh ran.*mariadb-admin.*exec --foo=bar`)
	if !order.MatchString(calls) {
		t.Errorf("init files not run in order before the shutdown and the final exec:\n%s", calls)
	}
	contains("the output", log, "ignoring /docker-entrypoint-initdb.d/50-e.txt", "MySQL init process done")
	if strings.Contains(log, "r00t") || strings.Contains(log, "app-pw") {
		t.Errorf("a password is in the output:\n%s", log)
	}

	// A random root password, expired after initialisation; MYSQL_USER alone is warned about.
	log, status, calls = run("random", false, []string{"docker-entrypoint.sh", "mysqld"},
		"MYSQL_RANDOM_ROOT_PASSWORD=yes", "MYSQL_ONETIME_PASSWORD=yes", "MYSQL_USER=app")
	generated := regexp.MustCompile(`GENERATED ROOT PASSWORD: ([A-Za-z0-9]{32})\n`).FindStringSubmatch(log)
	if status != 0 || generated == nil {
		t.Fatalf("entrypoint exited %d, generated password logged: %v:\n%s", status, generated != nil, log)
	}
	contains("the calls", calls, "IDENTIFIED BY '"+generated[1]+"'", "ALTER USER 'root'@'%' PASSWORD EXPIRE;", "\nexec \n")
	contains("the output", log, "MYSQL_USER specified, but missing MYSQL_PASSWORD")
	if strings.Contains(calls, "CREATE USER 'app'") {
		t.Errorf("MYSQL_USER without MYSQL_PASSWORD created the user:\n%s", calls)
	}

	// An initialised data directory is started as it is.
	if _, status, calls = run("initialised", true, []string{"docker-entrypoint.sh", "mysqld", "--x"}); status != 0 || calls != "exec --x\n" {
		t.Errorf("on an initialised data directory: status %d, calls:\n%s", status, calls)
	}
	// Another command runs untouched.
	if _, status, calls = run("other", false, []string{"docker-entrypoint.sh", "sh", "-c", "echo other >/out/calls"}); status != 0 || calls != "other\n" {
		t.Errorf("another command: status %d, calls:\n%s", status, calls)
	}
	// No password option: refused before anything is initialised.
	log, status, calls = run("nopassword", false, []string{"docker-entrypoint.sh", "mysqld"})
	if status == 0 || calls != "" || !strings.Contains(log, "password option is not specified") {
		t.Errorf("without a password option: status %d, calls %q, output:\n%s", status, calls, log)
	}
}

// dirWith is a temporary directory, readable by all, holding files.
func dirWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runToEnd runs a container that exits by itself and returns its output and exit status.
func runToEnd(ctx context.Context, t *testing.T, name, bundle string, s spec) (string, int) {
	t.Helper()
	sweepOnce.Do(func() { sweep(ctx) })
	writeBundle(t, bundle, s)
	id := idPrefix + name
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runc", "--root", runcRoot, "run", "--bundle", bundle, id)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		_ = exec.Command("runc", "--root", runcRoot, "delete", "--force", id).Run()
		t.Fatalf("%s did not finish: %v\n%s", id, ctx.Err(), out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("runc run %s: %v\n%s", id, err, out)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
