package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// entry is a file of an image as its layers have it.
type entry struct {
	hdr  *tar.Header
	data []byte // regular files only
}

// readImage returns the configuration and the files of the image tagged ref in tarPath.
func readImage(t *testing.T, tarPath, ref string) (v1.Config, map[string]entry) {
	t.Helper()
	files := map[string]entry{}
	cfg := eachEntry(t, tarPath, ref, func(h *tar.Header, r io.Reader) error {
		e := entry{hdr: h}
		if h.Typeflag == tar.TypeReg {
			var err error
			if e.data, err = io.ReadAll(r); err != nil {
				return err
			}
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = e
		return nil
	})
	if cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) == 0 {
		t.Errorf("%s: os %q, %d layers", ref, cfg.OS, len(cfg.RootFS.DiffIDs))
	}
	return cfg.Config, files
}

// want checks an entry's type, owner and mode.
func want(t *testing.T, files map[string]entry, p string, typ byte, uid int, mode int64) entry {
	t.Helper()
	e, ok := files[p]
	if !ok {
		t.Errorf("no %s", p)
		return entry{hdr: &tar.Header{}}
	}
	if e.hdr.Typeflag != typ || e.hdr.Uid != uid || e.hdr.Gid != uid || e.hdr.Mode != mode {
		t.Errorf("%s: type %c, owner %d:%d, mode %o; want %c, %d:%d, %o", p, e.hdr.Typeflag, e.hdr.Uid, e.hdr.Gid, e.hdr.Mode, typ, uid, uid, mode)
	}
	return e
}

// static reports whether data is an ELF executable without a dynamic loader.
func static(t *testing.T, data []byte) bool {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("not an ELF file: %v", err)
		return false
	}
	return !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
}

// TestImageLayouts reads the three images as a runtime would unpack them: the app laid
// out like app/Dockerfile's distroless image, pause, and the MySQL stand-in's paths,
// owners and modes as the official image has them.
func TestImageLayouts(t *testing.T) {
	needMySQLSources(t)
	appTar, pauseTar, mysqlTar := images(t)

	cfg, files := readImage(t, appTar, appRef)
	if !slices.Equal(cfg.Entrypoint, []string{"/counter"}) || cfg.User != "65532:65532" || cfg.WorkingDir != "/home/nonroot" ||
		!slices.Equal(slices.Collect(maps.Keys(cfg.ExposedPorts)), []string{"8080/tcp"}) {
		t.Errorf("app config: %+v", cfg)
	}
	if e := want(t, files, "/counter", tar.TypeReg, 0, 0o755); e.data != nil && !static(t, e.data) {
		t.Error("/counter is not static")
	}
	want(t, files, "/home/nonroot", tar.TypeDir, nonroot, 0o700)
	want(t, files, "/tmp", tar.TypeDir, 0, 0o1777)
	if e := want(t, files, "/etc/passwd", tar.TypeReg, 0, 0o644); !bytes.Contains(e.data, []byte("\nnonroot:x:65532:65532:")) ||
		!bytes.HasPrefix(e.data, []byte("root:x:0:0:")) {
		t.Errorf("app /etc/passwd:\n%s", e.data)
	}
	if e := want(t, files, "/etc/group", tar.TypeReg, 0, 0o644); !bytes.Contains(e.data, []byte("\nnonroot:x:65532:")) {
		t.Errorf("app /etc/group:\n%s", e.data)
	}

	cfg, files = readImage(t, pauseTar, pauseRef)
	if !slices.Equal(cfg.Entrypoint, []string{"/pause"}) || cfg.User != "65535:65535" {
		t.Errorf("pause config: %+v", cfg)
	}
	if e := want(t, files, "/pause", tar.TypeReg, 0, 0o755); e.data != nil && !static(t, e.data) {
		t.Error("/pause is not static")
	}

	for _, ref := range mysqlRefs {
		cfg, files = readImage(t, mysqlTar, ref)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"docker-entrypoint.sh"}) || !slices.Equal(cfg.Cmd, []string{"mysqld"}) ||
		!slices.Contains(cfg.Env, defaultPath) || len(cfg.Volumes) != 1 {
		t.Errorf("MySQL config: %+v", cfg)
	}
	want(t, files, "/usr/local/bin/docker-entrypoint.sh", tar.TypeReg, 0, 0o755)
	want(t, files, "/var/lib/mysql", tar.TypeDir, MySQLUID, 0o1777)
	want(t, files, "/run/mysqld", tar.TypeDir, MySQLUID, 0o1777)
	want(t, files, "/tmp", tar.TypeDir, 0, 0o1777)
	if e := want(t, files, "/var/run", tar.TypeSymlink, 0, 0o777); e.hdr.Linkname != "../run" {
		t.Errorf("/var/run -> %q", e.hdr.Linkname)
	}
	for link, target := range map[string]string{"/usr/sbin/mysqld": "mariadbd", "/usr/bin/mysql": "mariadb", "/usr/bin/mysqladmin": "mariadb-admin", "/usr/bin/sh": "dash"} {
		if e := want(t, files, link, tar.TypeSymlink, 0, 0o777); e.hdr.Linkname != target {
			t.Errorf("%s -> %q, want %s", link, e.hdr.Linkname, target)
		}
	}
	if e := want(t, files, "/etc/mysql/my.cnf", tar.TypeReg, 0, 0o644); !bytes.Contains(e.data, []byte("\n!includedir /etc/mysql/conf.d/\n")) {
		t.Errorf("my.cnf does not include conf.d:\n%s", e.data)
	}
	if e := want(t, files, "/etc/passwd", tar.TypeReg, 0, 0o644); !bytes.Contains(e.data, []byte("\nmysql:x:999:999:")) {
		t.Errorf("MySQL /etc/passwd:\n%s", e.data)
	}
	for p, e := range files {
		if e.hdr.Mode&0o6000 != 0 {
			t.Errorf("%s is set-id (mode %o)", p, e.hdr.Mode)
		}
	}
}
