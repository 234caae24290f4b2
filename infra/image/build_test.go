package image

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is this repository's root, seen from the package directory tests run in.
const repoRoot = "../.."

// TestRepositoryBuildContext checks this repository the way New does before a build: the
// Dockerfile exists and the ignore files keep the context to what the build inputs cover.
func TestRepositoryBuildContext(t *testing.T) {
	args := Args{RepoRoot: repoRoot}
	if err := args.checkSource(); err != nil {
		t.Fatal(err)
	}
	if _, err := buildInputs(args, "linux/amd64"); err != nil {
		t.Fatal(err)
	}
}

// TestBuildImage builds app/Dockerfile with the repository root as context, as pulumi up
// does, for the platform of this machine, and checks the image's platform.
func TestBuildImage(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI: install Docker with buildx and start the daemon to exercise the image build")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, docker, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run("info"); err != nil {
		t.Skipf("no Docker daemon (docker info: %v: %s): start one to exercise the image build",
			err, out[strings.LastIndex(out, "\n")+1:])
	}
	if out, err := run("buildx", "version"); err != nil {
		t.Skipf("no docker buildx (%v: %s): install the buildx plugin to exercise the image build", err, out)
	}

	platform := "linux/" + runtime.GOARCH
	inputs, err := buildInputs(Args{RepoRoot: repoRoot}, platform)
	if err != nil {
		t.Fatal(err)
	}
	name := "counter-mysql-imagetest:" + inputs[:16]
	if out, err := run("buildx", "build", "--platform", platform, "--load", "--tag", name,
		"--file", filepath.Join(repoRoot, dockerfile), repoRoot); err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "image", "rm", name).Run() })
	got, err := run("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", name)
	if err != nil {
		t.Fatalf("docker image inspect: %v: %s", err, got)
	}
	if got != platform {
		t.Errorf("built image platform = %q, want %q", got, platform)
	}
}
