package images

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/infra/database"
)

// mysqlTest is TestMySQLUnderRunc's body, on the bundle of runcBundle.
func mysqlTest(ctx context.Context, t *testing.T, bundle string, cfg *v1.ConfigFile) {
	uid, gid := userOf(t, cfg.Config.User)
	if uid != MySQLUID || gid != MySQLUID {
		t.Errorf("image user %q, want %d:%d", cfg.Config.User, MySQLUID, MySQLUID)
	}
	size := database.Sizing{CPURequest: "250m", CPULimit: "1", MemoryMiB: 512, MaxConnections: 50}
	rootPW, appPW, exporterPW := password(), password(), password()
	node := database.NodeTest(size, rootPW, appPW, exporterPW)

	// The pod's volumes: the data volume, owned by the pod's fsGroup as the kubelet leaves
	// it; emptyDirs (0777; /tmp as tmpfs); the ConfigMaps' files, read-only.
	s := spec{uid: MySQLUID, gid: MySQLUID, hostname: "mysql-0", binds: map[string]string{}, readOnly: map[string]string{}}
	for _, p := range node.Writable {
		if p == "/tmp" {
			s.tmpfs = append(s.tmpfs, p)
			continue
		}
		dir := t.TempDir()
		owner, mode := 0, os.FileMode(0o777)
		if p == "/var/lib/mysql" {
			owner, mode = MySQLUID, 0o755
		}
		if err := errors.Join(os.Chown(dir, owner, owner), os.Chmod(dir, mode)); err != nil {
			t.Fatal(err)
		}
		s.binds[p] = dir
	}
	volume, run := s.binds["/var/lib/mysql"], s.binds["/var/run/mysqld"]
	if volume == "" || run == "" {
		t.Fatalf("NodeTest's writable mounts %q lack /var/lib/mysql or /var/run/mysqld", node.Writable)
	}
	for p, content := range node.Files {
		dir := s.readOnly[filepath.Dir(p)]
		if dir == "" {
			dir = t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			s.readOnly[filepath.Dir(p)] = dir
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := func(appPW string) *container {
		t.Helper()
		node := database.NodeTest(size, rootPW, appPW, exporterPW)
		s.args, s.env = node.Command, append(append([]string{}, cfg.Config.Env...), node.Env...)
		c := runContainer(ctx, t, "mysql", bundle, s)
		began := time.Now()
		for {
			if _, err := c.exec(ctx, node.Probes["startup"]...); err == nil {
				break
			}
			select {
			case <-c.exited:
				t.Fatalf("MySQL exited before it answered the startup probe")
			case <-ctx.Done():
				t.Fatalf("MySQL did not answer the startup probe: %v", ctx.Err())
			case <-time.After(time.Second):
			}
		}
		t.Logf("startup probe passed %v after start", time.Since(began).Round(100*time.Millisecond))
		for _, probe := range []string{"liveness", "readiness"} {
			if out, err := c.exec(ctx, node.Probes[probe]...); err != nil {
				t.Errorf("%s probe: %v\n%s", probe, err, out)
			}
		}
		return c
	}
	sock := filepath.Join(run, "mysqld.sock")
	stop := func(c *container) {
		t.Helper()
		status, took := c.stop(ctx, t, 60*time.Second)
		t.Logf("stopped %v after SIGTERM", took.Round(100*time.Millisecond))
		if status != 0 || !strings.Contains(c.log.String(), "Shutdown complete") {
			t.Errorf("SIGTERM: exit status %d, clean shutdown logged: %v", status, strings.Contains(c.log.String(), "Shutdown complete"))
		}
	}

	// First start: the entrypoint initialises an empty volume.
	c := start(appPW)
	// The restrictions hold: no capabilities, no new privileges, uid 999, read-only root.
	if status, err := c.exec(ctx, "cat", "/proc/self/status"); err != nil ||
		!strings.Contains(status, "\nCapEff:\t0000000000000000\n") || !strings.Contains(status, "\nNoNewPrivs:\t1\n") ||
		!strings.Contains(status, "\nUid:\t999\t999\t999\t999\n") {
		t.Errorf("the container's process status: %v\n%s", err, status)
	}
	if out, err := c.exec(ctx, "sh", "-c", ": >/etc/mysql/probe"); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Errorf("writing to the root filesystem: %v, %s; want read-only", err, out)
	}
	if fi, err := os.Stat(filepath.Join(volume, "data", "mysql")); err != nil || !owned(fi, MySQLUID) {
		t.Errorf("data directory %s/data/mysql: %v, want it created by uid %d", volume, err, MySQLUID)
	}
	if logs, _ := filepath.Glob(filepath.Join(volume, "data", "binlog.0*")); len(logs) == 0 {
		t.Errorf("no binary log in %s/data: MySQL 8 writes one by default", volume)
	}
	root := connect(ctx, t, sock, "root", rootPW, "")
	want := map[string]string{
		"@@datadir": "/var/lib/mysql/data/", "@@log_bin": "1", "@@binlog_format": "ROW", "@@sync_binlog": "1",
		"@@innodb_flush_log_at_trx_commit": "1", "@@skip_name_resolve": "1", "@@max_connections": "50",
		"@@innodb_buffer_pool_size": "268435456", "@@binlog_expire_logs_seconds": "259200",
		"@@character_set_server": "utf8mb4", "@@socket": "/var/run/mysqld/mysqld.sock", "@@port": "3306",
	}
	for v, w := range want {
		if got := query(ctx, t, root, "SELECT "+v); got != w {
			t.Errorf("%s = %q, want %q (counter.cnf and the image's my.cnf)", v, got, w)
		}
	}
	// root as the official image leaves it: localhost and MYSQL_ROOT_HOST (%), nothing
	// else (MariaDB's installer also makes password-less root@127.0.0.1 and root@::1).
	if hosts := query(ctx, t, root, "SELECT GROUP_CONCAT(host ORDER BY host) FROM mysql.user WHERE user = 'root'"); hosts != "%,localhost" {
		t.Errorf("root's hosts: %q, want %%,localhost", hosts)
	}
	if db := query(ctx, t, root, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name IN ('"+schema.Database+"', 'test')"); db != "1" {
		t.Errorf("schemas %s and test: %s, want MYSQL_DATABASE only", schema.Database, db)
	}
	denied(ctx, t, sock, "root", rootPW+"x")
	// The exporter's account, from the init script through the image's entrypoint (what
	// the grants allow is the MySQL tier's accounts test).
	if grants := query(ctx, t, root, "SHOW GRANTS FOR '"+database.ExporterUser+"'@'127.0.0.1'"); !strings.Contains(grants, "GRANT PROCESS, ") ||
		!strings.Contains(grants, "`performance_schema`") {
		t.Errorf("the exporter's grants %q lack PROCESS or performance_schema", grants)
	}
	app := connect(ctx, t, sock, database.AppUser, appPW, schema.Database)
	if grants := query(ctx, t, app, "SHOW GRANTS"); !strings.Contains(grants, schema.Privileges) {
		t.Errorf("the app user's grants %q lack %s", grants, schema.Privileges)
	}
	for _, stmt := range []string{"CREATE TABLE nodetest (n INT PRIMARY KEY)", "INSERT INTO nodetest VALUES (42)"} {
		if _, err := app.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("as the app user: %s: %v", stmt, err)
		}
	}
	root.Close()
	app.Close()
	stop(c)
	first := c.log.String()
	if !strings.Contains(first, "Initializing database files") || !strings.Contains(first, "sourcing /docker-entrypoint-initdb.d/create-accounts.sh") {
		t.Errorf("the first start did not initialise the data directory and source the init script")
	}

	// Second start, the app's password rotated: the start script's init file applies it.
	newAppPW := password()
	c = start(newAppPW)
	root = connect(ctx, t, sock, "root", rootPW, "")
	root.Close()
	app = connect(ctx, t, sock, database.AppUser, newAppPW, schema.Database)
	if n := query(ctx, t, app, "SELECT n FROM nodetest"); n != "42" {
		t.Errorf("the row written before the restart reads %q", n)
	}
	app.Close()
	denied(ctx, t, sock, database.AppUser, appPW)
	stop(c)
	second := c.log.String()
	if strings.Contains(second, "Initializing database files") || strings.Contains(second, "init process done") {
		t.Errorf("the second start initialised the data directory again")
	}
	for _, pw := range []string{rootPW, appPW, newAppPW, exporterPW} {
		if strings.Contains(first+second, pw) {
			t.Errorf("a password appears in the container's output")
		}
	}
}

// owned reports whether fi belongs to uid.
func owned(fi os.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// password is a random alphanumeric password, as the stack generates them.
func password() string {
	return "Pw" + rand.Text()[:20]
}

func connect(ctx context.Context, t *testing.T, sock, user, password, db string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "unix", sock, user, password, db
	cfg.Timeout = 10 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := sql.OpenDB(connector)
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("connecting as %s to %q over %s: %v", user, db, sock, err)
	}
	return conn
}

// denied checks that password does not let user in.
func denied(ctx context.Context, t *testing.T, sock, user, password string) {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "unix", sock, user, password
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := sql.OpenDB(connector)
	defer conn.Close()
	var me *mysql.MySQLError
	if err := conn.PingContext(ctx); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("%s with a wrong password: %v, want access denied (1045)", user, err)
	}
}

func query(ctx context.Context, t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return strings.Join(out, "\n")
}
