// Package images builds the real-node test tier's container images (issue 23) on the
// machine itself, with no Docker daemon and no registry: the counter app (App), a MySQL
// stand-in (MySQL) and the pod sandbox's pause image (Pause). Each is written as a
// docker-archive tarball under one or more tags, for `ctr -n k8s.io images import`.
// Images are linux/GOARCH of the building machine; layers have fixed owners, modes and
// times, so their digests follow their content only.
//
// # The MySQL stand-in
//
// The tier cannot pull mysql:8.4, so MySQL builds an image from the MariaDB 10.11 that
// Debian installs on this machine, shaped like the official mysql image where the
// StatefulSet relies on it: mysqld, mysql and mysqladmin on PATH, /etc/mysql/my.cnf
// including /etc/mysql/conf.d/, the socket and pid file in /var/run/mysqld, the data in
// /var/lib/mysql, user mysql 999:999, and docker-entrypoint.sh (mysql/docker-entrypoint.sh)
// with the official environment contract (MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD,
// MYSQL_RANDOM_ROOT_PASSWORD, MYSQL_ROOT_HOST, MYSQL_DATABASE, MYSQL_USER and
// MYSQL_PASSWORD, MYSQL_ONETIME_PASSWORD, the *_FILE variants, initdb.d scripts with
// docker_process_sql). It does not cover:
//
//   - MySQL 8 itself: the server is MariaDB 10.11, with its SQL dialect, system tables,
//     mysql_native_password instead of caching_sha2_password, no X Protocol (33060), no
//     performance_schema by default, utf8mb4_unicode_520_ci instead of
//     utf8mb4_0900_ai_ci, and no in-server upgrade: every tag is the same image, so a
//     "version upgrade" changes the tag only. my.cnf sets the MySQL 8 defaults that matter
//     here (binary log on as binlog.NNNNNN, ROW format, 30 days; sql_mode; utf8mb4;
//     max_allowed_packet 64M; innodb_autoinc_lock_mode 2).
//   - Running as root: the official image steps down to mysql with gosu; this one refuses
//     and must be run as uid 999 (its config says 999:999; the pod sets it anyway).
//   - Time zone tables: MYSQL_INITDB_SKIP_TZINFO is always in effect (no zoneinfo).
//   - The entrypoint runs under dash, not bash: sourced init scripts must be POSIX sh, the
//     old "${mysql[@]}" array is absent, and *.sql.bz2, *.sql.xz, *.sql.zst and
//     /docker-entrypoint-startdb.d are not handled.
//   - No socket symlink at the package's compiled-in path (the official mysql_socket_fix):
//     here /var/run is /run, so that path is the socket.
//   - Of the other programs only mysql, mysqladmin, mariadb-check and mariadb-upgrade: no
//     mysqldump, mysqlbinlog or mysqlsh (nothing in the project runs them in the pod);
//     no MYSQL_MAJOR or MYSQL_VERSION in the environment.
package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultPath is PATH in every image, as in the official and distroless images.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// image is a single-layer linux/GOARCH image with config cfg.
func image(cfg v1.Config, l *layer) (v1.Image, error) {
	layer, err := l.close()
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "infra/nodetest/images"},
	})
}

// write saves img under every ref in outTar; the file appears whole or not at all.
func write(refs []string, img v1.Image, outTar string) error {
	if len(refs) == 0 {
		return errors.New("images: no image reference to tag the image with")
	}
	tags := map[name.Reference]v1.Image{}
	for _, ref := range refs {
		tag, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		tags[tag] = img
	}
	tmp, err := os.CreateTemp(filepath.Dir(outTar), filepath.Base(outTar)+".*.tmp")
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	err = tarball.MultiRefWrite(tags, tmp)
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp's 0600 would keep other users' ctr from reading it
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), outTar)
	}
	if err != nil {
		return fmt.Errorf("images: writing %s: %w", outTar, err)
	}
	return nil
}

// goBuild compiles pkg, from dir, into out as a static Linux executable for this machine's
// architecture, stripped and without local paths.
func goBuild(ctx context.Context, dir, pkg, out string, env ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("images: building %s needs the Go toolchain: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH}, env...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("images: go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(msg)))
	}
	return nil
}
