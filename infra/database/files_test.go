package database

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCreateAppUserScript sources the init script the way the image's entrypoint does,
// with docker_process_sql replaced by cat, and checks the SQL the server would receive.
func TestCreateAppUserScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed: install bash to run the init script")
	}
	script := filepath.Join(t.TempDir(), "create-app-user.sh")
	if err := os.WriteFile(script, []byte(createAppUser()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", `set -eu; docker_process_sql() { cat; }; source "$1"`, "init", script)
	cmd.Env = []string{envAppUser + "=counter", envAppPassword + "=s3cretPassw0rd"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	want := "CREATE USER IF NOT EXISTS 'counter'@'%' IDENTIFIED BY 's3cretPassw0rd';\n" +
		"GRANT SELECT, INSERT, UPDATE, CREATE ON counter.* TO 'counter'@'%';\n"
	if string(out) != want {
		t.Errorf("SQL:\n%s\nwant:\n%s", out, want)
	}
}
