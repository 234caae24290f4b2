package database

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateAccountsScript sources the init script the way the image's entrypoint does,
// with docker_process_sql replaced by cat, and checks the SQL the server would receive.
func TestCreateAccountsScript(t *testing.T) {
	out := strings.Join(initSQL(t, "s3cretPassw0rd", "exp0rterPassw0rd"), "\n") + "\n"
	want := "CREATE USER IF NOT EXISTS 'counter'@'%' IDENTIFIED BY 's3cretPassw0rd';\n" +
		"GRANT SELECT, INSERT, UPDATE, CREATE ON counter.* TO 'counter'@'%';\n" +
		"CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY 'exp0rterPassw0rd' WITH MAX_USER_CONNECTIONS 3;\n" +
		"ALTER USER 'exporter'@'127.0.0.1' IDENTIFIED BY 'exp0rterPassw0rd' WITH MAX_USER_CONNECTIONS 3;\n" +
		"REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'exporter'@'127.0.0.1';\n" +
		"GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'exporter'@'127.0.0.1';\n" +
		"GRANT SELECT ON performance_schema.* TO 'exporter'@'127.0.0.1';\n"
	if out != want {
		t.Errorf("SQL:\n%s\nwant:\n%s", out, want)
	}
}

// TestProbesHidePassword runs the probe commands with stand-in clients that record their
// arguments and the option file they were given.
func TestProbesHidePassword(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("sh not installed: install a POSIX shell to run the probe commands")
	}
	bin := t.TempDir()
	fake := "#!/bin/sh\n" + `for a in "$@"; do echo "arg $a"; case "$a" in --defaults-extra-file=*) cat "${a#*=}";; esac; done` + "\n"
	for _, client := range []string{"mysqladmin", "mysql"} {
		if err := os.WriteFile(filepath.Join(bin, client), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		command string
		args    string
	}{
		"ping":  {pingProbe("liveness"), "arg ping\n"},
		"ready": {readyProbe, "arg --execute=SELECT 1\n"},
	}
	for name, tt := range tests {
		// The commands write to /tmp as they do in the pod; the test's own temp dir
		// stands in for it.
		command := strings.ReplaceAll(tt.command, "/tmp/", bin+"/")
		cmd := exec.Command(sh, "-c", command)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "MYSQL_ROOT_PASSWORD=Secr3tRootPw"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		lines := strings.SplitAfter(string(out), "\n")
		if !strings.HasPrefix(lines[0], "arg --defaults-extra-file=") {
			t.Errorf("%s: the option file is not the first argument:\n%s", name, out)
		}
		if want := "[client]\nuser=root\npassword=Secr3tRootPw\nhost=127.0.0.1\n" + tt.args; strings.Join(lines[1:], "") != want {
			t.Errorf("%s: got\n%s\nwant the option file then %q", name, out, tt.args)
		}
		if strings.Contains(lines[0], "Secr3t") || strings.Contains(command, "Secr3t") {
			t.Errorf("%s: the password is on a command line", name)
		}
	}
}
