package images

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var (
	//go:embed mysql/docker-entrypoint.sh
	mysqlEntrypoint []byte
	//go:embed mysql/my.cnf
	mysqlConfig []byte
)

// MySQLUID is the mysql user's uid and gid in the stand-in, as in the official image.
const MySQLUID = 999

// mariadbPackages are the Debian packages whose files go into the stand-in whole (less
// documentation): the server, the installer and its SQL, the client, the client library.
var mariadbPackages = []string{"mariadb-server-core", "mariadb-client-core", "libmariadb3"}

// mariadbExtra are files from packages that are mostly Perl scripts or services: mysqladmin
// (mariadb-client) and the server plugins (mariadb-server), less PAM's, which needs a PAM
// stack and a set-uid helper.
var mariadbExtra = map[string]func(string) bool{
	"mariadb-client": func(p string) bool {
		return slices.Contains([]string{"/usr/bin/mariadb-admin", "/usr/bin/mysqladmin"}, p)
	},
	"mariadb-server": func(p string) bool {
		return strings.HasPrefix(p, "/usr/lib/mysql/plugin/") && strings.HasSuffix(p, ".so") && !strings.Contains(p, "auth_pam")
	},
}

// mysqlTools are the programs the entrypoint, the start script, the probes and
// mariadb-install-db run, besides MariaDB's own.
var mysqlTools = []string{
	"/bin/sh", "/bin/dash", "/bin/sed", "/bin/cat", "/bin/mkdir", "/bin/rm", "/bin/ls", "/usr/bin/dirname",
	"/bin/uname", "/bin/chmod", "/bin/sleep", "/bin/date", "/usr/bin/id", "/usr/bin/tr", "/usr/bin/head", "/bin/gzip",
}

// undocumented are paths in the packages that no program in the image reads.
var undocumented = regexp.MustCompile(`^/usr/share/(doc|man|lintian|menu|apport)/`)

// MySQL builds the MySQL stand-in (see the package documentation) from the MariaDB
// packages installed on this machine, and writes it to outTar under every ref in refs
// (e.g. docker.io/library/mysql:8.4.3 and :8.4.4, to act out a version upgrade).
func MySQL(ctx context.Context, refs []string, outTar string) error {
	var paths []string
	for _, pkg := range mariadbPackages {
		files, err := dpkgFiles(ctx, pkg)
		if err != nil {
			return err
		}
		paths = append(paths, files...)
	}
	for pkg, keep := range mariadbExtra {
		files, err := dpkgFiles(ctx, pkg)
		if err != nil {
			return err
		}
		for _, f := range files {
			if keep(f) {
				paths = append(paths, f)
			}
		}
	}
	paths = append(paths, mysqlTools...)
	slices.Sort(paths) // map order must not change the layer
	libs, err := sharedLibraries(ctx, paths)
	if err != nil {
		return err
	}
	paths = append(paths, libs...)

	l := newLayer()
	// Directories with their own owner or mode come before anything inside them.
	for _, d := range []struct {
		path string
		uid  int
		mode int64
	}{
		{path: "/tmp", mode: 0o1777},
		{path: "/root", mode: 0o700},
		{path: "/run", mode: 0o755},
		{path: "/run/mysqld", uid: MySQLUID, mode: 0o1777},
		{path: "/var/lib/mysql", uid: MySQLUID, mode: 0o1777},
		{path: "/var/lib/mysql-files", uid: MySQLUID, mode: 0o700},
		{path: "/etc/mysql/conf.d", mode: 0o755},
		{path: "/docker-entrypoint-initdb.d", mode: 0o755},
	} {
		if err := l.dir(d.path, d.uid, d.uid, d.mode); err != nil {
			return err
		}
	}
	for _, step := range []func() error{
		func() error { return l.symlink("/var/run", "../run") },
		func() error {
			return l.file("/etc/passwd", 0, 0, 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"+
				"mysql:x:999:999::/var/lib/mysql:/usr/sbin/nologin\n"))
		},
		func() error { return l.file("/etc/group", 0, 0, 0o644, []byte("root:x:0:\nmysql:x:999:\n")) },
		func() error {
			return l.file("/etc/nsswitch.conf", 0, 0, 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n"))
		},
		func() error { return l.file("/etc/mysql/my.cnf", 0, 0, 0o644, mysqlConfig) },
		func() error { return l.file("/usr/local/bin/docker-entrypoint.sh", 0, 0, 0o755, mysqlEntrypoint) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	for _, p := range paths {
		if err := l.hostPath(p); err != nil {
			return fmt.Errorf("images: MySQL stand-in: %w", err)
		}
	}
	img, err := image(v1.Config{
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"mysqld"},
		User:         "999:999",
		Env:          []string{defaultPath},
		ExposedPorts: map[string]struct{}{"3306/tcp": {}},
		Volumes:      map[string]struct{}{"/var/lib/mysql": {}},
	}, l)
	if err != nil {
		return err
	}
	return write(refs, img, outTar)
}

// dpkgFiles lists the files and symlinks that Debian package pkg installed, less
// documentation.
func dpkgFiles(ctx context.Context, pkg string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "dpkg", "-L", pkg).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return nil, fmt.Errorf("images: the MySQL stand-in needs Debian's %s (apt-get install mariadb-server mariadb-client): dpkg -L %s: %w", pkg, pkg, err)
	}
	var files []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		p := sc.Text()
		if !strings.HasPrefix(p, "/") || undocumented.MatchString(p) {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("images: %s lists %s: %w", pkg, p, err)
		}
		if !fi.IsDir() {
			files = append(files, p)
		}
	}
	return files, sc.Err()
}

// lddLine is one library in ldd's output: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1
// (0x...)", or the dynamic loader, "/lib64/ld-linux-x86-64.so.2 (0x...)".
var lddLine = regexp.MustCompile(`^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$`)

// sharedLibraries returns the shared libraries, with the dynamic loader, that the ELF
// files among paths load; ldd lists each file's whole closure.
func sharedLibraries(ctx context.Context, paths []string) ([]string, error) {
	seen := map[string]bool{}
	var libs []string
	for _, p := range paths {
		if !isELF(p) {
			continue
		}
		out, err := exec.CommandContext(ctx, "ldd", p).CombinedOutput()
		if err != nil {
			if bytes.Contains(out, []byte("not a dynamic executable")) {
				continue // static
			}
			return nil, fmt.Errorf("images: ldd %s: %w: %s", p, err, bytes.TrimSpace(out))
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "not found") {
				return nil, fmt.Errorf("images: %s needs a library this machine lacks: %s", p, strings.TrimSpace(line))
			}
			if m := lddLine.FindStringSubmatch(line); m != nil && !seen[m[1]] {
				seen[m[1]] = true
				libs = append(libs, m[1])
			}
		}
	}
	slices.Sort(libs)
	return libs, nil
}

// isELF reports whether p is a regular file (after symlinks) starting with ELF's magic.
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = f.ReadAt(magic, 0)
	return err == nil && string(magic) == "\x7fELF"
}
