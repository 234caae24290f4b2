package nodetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/infra/nodetest/images"
)

// Images the node has, built here (no registry can be reached) and imported into
// containerd; pods must use pull policy IfNotPresent or Never for them.
const (
	// PauseImage is containerd's sandbox image.
	PauseImage = "nodetest.local/pause:1"
	// AppImage is the counter app built from app/.
	AppImage = "nodetest.local/counter:1"
	// MySQLRepository holds the MySQL stand-in (MariaDB from Debian's packages behind an
	// entrypoint of the official image's contract), tagged with each of MySQLVersions.
	MySQLRepository = "nodetest.local/mysql"
)

// MySQLVersions are the versions the stand-in is tagged as: two patches of one series,
// so a minor upgrade can be rolled out.
var MySQLVersions = []string{"8.4.3", "8.4.4"}

// MySQLImage is the stand-in tagged as MySQL version.
func MySQLImage(version string) string { return MySQLRepository + ":" + version }

// loadImages builds the images and imports them into containerd.
func (n *Node) loadImages(ctx context.Context, t testing.TB) error {
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	var mysqlRefs []string
	for _, v := range MySQLVersions {
		mysqlRefs = append(mysqlRefs, MySQLImage(v))
	}
	dir := n.path("images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	builds := []struct {
		name  string
		build func(out string) error
	}{
		{"pause", func(out string) error { return images.Pause(ctx, PauseImage, out) }},
		{"counter", func(out string) error { return images.App(ctx, root, AppImage, out) }},
		{"mysql", func(out string) error { return images.MySQL(ctx, mysqlRefs, out) }},
	}
	for _, b := range builds {
		start := time.Now()
		tar := filepath.Join(dir, b.name+".tar")
		if err := b.build(tar); err != nil {
			return fmt.Errorf("building the %s image: %w", b.name, err)
		}
		if _, err := n.ctr(ctx, "images", "import", tar); err != nil {
			return fmt.Errorf("importing the %s image into containerd: %w", b.name, err)
		}
		t.Logf("image %s built and imported in %s", b.name, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}
