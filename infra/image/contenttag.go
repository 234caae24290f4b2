package image

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ContentTag returns a hex SHA-256 over the files under paths (files or directories,
// relative to repoRoot; each must exist): for every file, in sorted path order, its
// slash-separated path, its mode and the SHA-256 of its content (of its target, for a
// symbolic link). The same tree gives the same digest on every machine; a changed name,
// mode or byte gives a new one.
func ContentTag(repoRoot string, paths ...string) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("image: ContentTag needs at least one path")
	}
	modes := map[string]fs.FileMode{}
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(repoRoot, p), func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(repoRoot, name)
			if err != nil {
				return err
			}
			modes[filepath.ToSlash(rel)] = info.Mode()
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("image: hashing build input %s: %w", p, err)
		}
	}
	sum := sha256.New()
	for _, rel := range slices.Sorted(maps.Keys(modes)) {
		digest, err := fileDigest(filepath.Join(repoRoot, filepath.FromSlash(rel)), modes[rel])
		if err != nil {
			return "", fmt.Errorf("image: hashing build input %s: %w", rel, err)
		}
		fmt.Fprintf(sum, "%s\x00%s\x00%x\x00", rel, modes[rel], digest)
	}
	return fmt.Sprintf("%x", sum.Sum(nil)), nil
}

// fileDigest hashes a regular file's content or a symbolic link's target.
func fileDigest(name string, mode fs.FileMode) ([]byte, error) {
	sum := sha256.New()
	switch {
	case mode.Type() == fs.ModeSymlink:
		target, err := os.Readlink(name)
		if err != nil {
			return nil, err
		}
		io.WriteString(sum, target)
	case mode.IsRegular():
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := io.Copy(sum, f); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unsupported file type %s", mode.Type())
	}
	return sum.Sum(nil), nil
}

// ignoreFiles returns the Docker ignore files, relative to repoRoot, that can decide which
// files enter the build context of dockerfile: the Dockerfile-specific one that newer
// builders prefer, and the one at the context root. At least one must exist, and each must
// be a whitelist of contextPaths (see checkWhitelist).
func ignoreFiles(repoRoot, dockerfile string) ([]string, error) {
	var found []string
	for _, rel := range []string{dockerfile + ".dockerignore", ".dockerignore"} {
		content, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		if err := checkWhitelist(string(content)); err != nil {
			return nil, fmt.Errorf("image: %s: %w", rel, err)
		}
		found = append(found, rel)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("image: no .dockerignore in %s: the build context must be limited "+
			"to %s (a .dockerignore of \"*\" then \"!%s\"), or every commit would rebuild the image "+
			"under an unchanged, immutable tag", repoRoot, strings.Join(contextPaths, ", "),
			strings.Join(contextPaths, "\", \"!"))
	}
	return found, nil
}

// checkWhitelist accepts an ignore file that first excludes everything ("*") and then
// re-includes ("!pattern") only paths under contextPaths. The Docker provider rebuilds
// whenever a file in the context changes; with the context held to the files the build
// inputs cover, a rebuild always comes with a new tag, which an IMMUTABLE repository needs.
func checkWhitelist(ignore string) error {
	var patterns []string
	for line := range strings.Lines(ignore) {
		if p := strings.TrimSpace(line); p != "" && !strings.HasPrefix(p, "#") {
			patterns = append(patterns, p)
		}
	}
	if len(patterns) == 0 || (patterns[0] != "*" && patterns[0] != "**") {
		return errors.New(`must start by excluding everything ("*")`)
	}
	for _, p := range patterns[1:] {
		included, ok := strings.CutPrefix(p, "!")
		if !ok {
			continue // a further exclusion only shrinks the context
		}
		top, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(included), "/"), "/")
		if !slices.Contains(contextPaths, top) {
			return fmt.Errorf("%q re-includes a path outside %s", p, strings.Join(contextPaths, ", "))
		}
	}
	return nil
}
