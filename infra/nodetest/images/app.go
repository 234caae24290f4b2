package images

import (
	"context"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// nonroot is distroless's unprivileged user, as app/Dockerfile runs the app.
const nonroot = 65532

// App builds the counter app from the repository at repoRoot as app/Dockerfile does
// (CGO_ENABLED=0, -trimpath, -ldflags="-s -w") and writes it to outTar tagged ref, laid out
// like that Dockerfile's distroless static:nonroot image: /counter as entrypoint, user
// 65532:65532, working directory /home/nonroot, port 8080, and the distroless files the
// app may touch (passwd and group, the home directory, /tmp). No CA certificates or
// time zone data: the app needs neither.
func App(ctx context.Context, repoRoot, ref, outTar string) error {
	dir, err := os.MkdirTemp("", "counter-app-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "counter")
	if err := goBuild(ctx, repoRoot, "./app", bin); err != nil {
		return err
	}

	l := newLayer()
	for _, step := range []func() error{
		func() error { return l.dir("/etc", 0, 0, 0o755) },
		func() error {
			return l.file("/etc/passwd", 0, 0, 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
		},
		func() error {
			return l.file("/etc/group", 0, 0, 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"))
		},
		func() error { return l.dir("/home", 0, 0, 0o755) },
		func() error { return l.dir("/home/nonroot", nonroot, nonroot, 0o700) },
		func() error { return l.dir("/root", 0, 0, 0o700) },
		func() error { return l.dir("/tmp", 0, 0, 0o1777) },
		func() error { return l.hostFile(bin, "/counter") },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	img, err := image(v1.Config{
		Entrypoint:   []string{"/counter"},
		User:         "65532:65532",
		WorkingDir:   "/home/nonroot",
		Env:          []string{defaultPath},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}, l)
	if err != nil {
		return err
	}
	return write([]string{ref}, img, outTar)
}
