package images

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

//go:embed pause/main.go
var pauseSource []byte

// Pause builds the pod sandbox image that containerd's CRI plugin starts first in every
// pod (pause/main.go, compiled now as a module of its own, so any copy of this package can
// build it) and writes it to outTar tagged ref. Like registry.k8s.io/pause it runs /pause
// as 65535:65535.
func Pause(ctx context.Context, ref, outTar string) error {
	dir, err := os.MkdirTemp("", "pause-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module pause\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), pauseSource, 0o644); err != nil {
		return err
	}
	bin := filepath.Join(dir, "pause")
	// Not the caller's module or workspace settings: the program stands alone.
	if err := goBuild(ctx, dir, ".", bin, "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"); err != nil {
		return err
	}
	l := newLayer()
	if err := l.hostFile(bin, "/pause"); err != nil {
		return err
	}
	img, err := image(v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535", Env: []string{defaultPath}}, l)
	if err != nil {
		return err
	}
	return write([]string{ref}, img, outTar)
}
