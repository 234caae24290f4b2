package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContentTag(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app/main.go":        "package main\n",
		"app/server/http.go": "package server\n",
		"go.mod":             "module example.com/counter\n",
		"infra/main.go":      "package main\n",
	})
	tag := func(paths ...string) string {
		t.Helper()
		got, err := ContentTag(dir, paths...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	first := tag("app", "go.mod")
	if len(first) != 64 || strings.Trim(first, "0123456789abcdef") != "" {
		t.Fatalf("ContentTag = %q, want 64 hex digits", first)
	}
	if again := tag("go.mod", "app"); again != first {
		t.Errorf("same tree, paths in another order: %q then %q", first, again)
	}
	writeFiles(t, dir, map[string]string{"infra/main.go": "package main // changed\n"})
	if got := tag("app", "go.mod"); got != first {
		t.Errorf("a change outside the paths moved the tag from %q to %q", first, got)
	}

	seen := map[string]string{first: "the first tree"}
	for _, step := range []struct {
		change string
		apply  func() error
	}{
		{"content", func() error {
			return os.WriteFile(filepath.Join(dir, "app/server/http.go"), []byte("package server // v2\n"), 0o644)
		}},
		{"mode", func() error { return os.Chmod(filepath.Join(dir, "app/main.go"), 0o755) }},
		{"name", func() error {
			return os.Rename(filepath.Join(dir, "app/server/http.go"), filepath.Join(dir, "app/server/web.go"))
		}},
		{"new file", func() error { return os.WriteFile(filepath.Join(dir, "app/extra.go"), nil, 0o644) }},
		{"symlink", func() error { return os.Symlink("main.go", filepath.Join(dir, "app/link.go")) }},
	} {
		if err := step.apply(); err != nil {
			t.Fatal(err)
		}
		got := tag("app", "go.mod")
		if earlier, ok := seen[got]; ok {
			t.Errorf("after the %s change the tag is %q, as after %s", step.change, got, earlier)
		}
		seen[got] = "the " + step.change + " change"
	}

	if _, err := ContentTag(dir, "app", "go.sum"); err == nil {
		t.Error("ContentTag of a missing path succeeded")
	}
	if _, err := ContentTag(dir); err == nil {
		t.Error("ContentTag of no paths succeeded")
	}
}

func TestCheckWhitelist(t *testing.T) {
	for _, tc := range []struct {
		ignore  string
		wantErr string // empty: accepted
	}{
		{"*\n!app/\n!go.mod\n!go.sum\n", ""},
		{"# only what the image needs\n**\n\n!/app/**\n!./go.mod\napp/**/*_test.go\n!app/testdata/keep\n", ""},
		{"*\n!app\n", ""},
		{"", "excluding everything"},
		{".git\nbin\n", "excluding everything"},
		{"!app\n*\n", "excluding everything"},
		{"*\n!app/\n!infra/\n", `"!infra/"`},
		{"*\n!*.go\n", `"!*.go"`},
		{"*\n!app/../infra\n", `"!app/../infra"`},
	} {
		err := checkWhitelist(tc.ignore)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("checkWhitelist(%q) = %v, want accepted", tc.ignore, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("checkWhitelist(%q) = %v, want an error mentioning %s", tc.ignore, err, tc.wantErr)
		}
	}
}

func TestDockerfileSpecificIgnoreFileIsCheckedToo(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app/Dockerfile":              "FROM scratch\n",
		"app/Dockerfile.dockerignore": "*\n!app/\n!infra/\n",
	})
	if _, err := ignoreFiles(dir, "app/Dockerfile"); err == nil || !strings.Contains(err.Error(), "Dockerfile.dockerignore") {
		t.Errorf("ignoreFiles = %v, want the Dockerfile-specific ignore file refused", err)
	}
	writeFiles(t, dir, map[string]string{"app/Dockerfile.dockerignore": "*\n!app/\n!go.mod\n!go.sum\n"})
	got, err := ignoreFiles(dir, "app/Dockerfile")
	if err != nil || len(got) != 1 || got[0] != "app/Dockerfile.dockerignore" {
		t.Errorf("ignoreFiles = %v, %v; want [app/Dockerfile.dockerignore]", got, err)
	}
}
