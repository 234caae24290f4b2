package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every entry's modification time, so a layer's digest depends on its content only.
var epoch = time.Unix(0, 0).UTC()

// layer is one image layer under construction. Every entry gets its owner and mode from
// the caller, never from the host (which may be a developer's home directory), so the
// image is the same wherever it is built.
type layer struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	seen map[string]string // entries written, by clean absolute path: what they are
}

func newLayer() *layer {
	l := &layer{seen: map[string]string{"/": "dir 0 0 755"}}
	l.tw = tar.NewWriter(&l.buf)
	return l
}

// parents adds the missing parent directories of p, owned by root, mode 0755.
func (l *layer) parents(p string) error {
	dir := path.Dir(p)
	if l.seen[dir] != "" {
		return nil
	}
	return l.dir(dir, 0, 0, 0o755)
}

func (l *layer) header(h *tar.Header) error {
	name := path.Clean("/" + h.Name)
	what := fmt.Sprintf("%c %d %d %o %s", h.Typeflag, h.Uid, h.Gid, h.Mode, h.Linkname)
	if h.Typeflag == tar.TypeDir {
		what = fmt.Sprintf("dir %d %d %o", h.Uid, h.Gid, h.Mode)
	}
	if seen := l.seen[name]; seen != "" {
		if h.Typeflag == tar.TypeDir && seen == what {
			return nil // already there, e.g. as a parent
		}
		return fmt.Errorf("images: %s added twice (%s, then %s): add a directory before what it holds", name, seen, what)
	}
	if err := l.parents(name); err != nil {
		return err
	}
	l.seen[name] = what
	h.Name = strings.TrimPrefix(name, "/")
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	h.ModTime, h.Format = epoch, tar.FormatPAX
	return l.tw.WriteHeader(h)
}

func (l *layer) dir(p string, uid, gid int, mode int64) error {
	return l.header(&tar.Header{Typeflag: tar.TypeDir, Name: p, Uid: uid, Gid: gid, Mode: mode})
}

func (l *layer) file(p string, uid, gid int, mode int64, data []byte) error {
	if err := l.header(&tar.Header{Typeflag: tar.TypeReg, Name: p, Uid: uid, Gid: gid, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := l.tw.Write(data)
	return err
}

func (l *layer) symlink(p, target string) error {
	return l.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, Mode: 0o777})
}

// hostFile copies the host's regular file src to p, owned by root, with its permission
// bits (no set-id bits: nothing in these images needs them).
func (l *layer) hostFile(src, p string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("images: %s is not a regular file", src)
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: int64(fi.Mode().Perm()), Size: fi.Size()}
	if err := l.header(h); err != nil {
		return err
	}
	if _, err := io.Copy(l.tw, io.LimitReader(f, fi.Size())); err != nil {
		return fmt.Errorf("images: copying %s: %w", src, err)
	}
	return nil
}

// hostPath adds the host's path p as the host resolves it: each symlink on the way (such
// as Debian's /lib -> usr/lib, or libz.so.1 -> libz.so.1.3) becomes the same symlink in
// the image, followed by what it leads to, so programs find their files under the same
// names. Directories on the way are created root-owned 0755; a directory at the end is
// refused (callers list files).
func (l *layer) hostPath(p string) error {
	return l.hostPathDepth(filepath.Clean(p), 0)
}

func (l *layer) hostPathDepth(p string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("images: too many symlinks resolving %s", p)
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("images: %s is not absolute", p)
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if err != nil {
			return err
		}
		last := i == len(parts)-1
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if l.seen[next] == "" {
				if err := l.symlink(next, target); err != nil {
					return err
				}
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return l.hostPathDepth(filepath.Join(append([]string{target}, parts[i+1:]...)...), depth+1)
		case fi.IsDir() && !last:
			switch seen := l.seen[next]; {
			case seen == "":
				if err := l.dir(next, 0, 0, 0o755); err != nil {
					return err
				}
			case !strings.HasPrefix(seen, "dir "):
				return fmt.Errorf("images: %s is a directory on the host but %s in the image", next, seen)
			}
		case fi.Mode().IsRegular() && last:
			if l.seen[next] != "" {
				return nil
			}
			return l.hostFile(next, next)
		default:
			return fmt.Errorf("images: %s: %v is neither a regular file nor a directory on the way to one", p, next)
		}
		cur = next
	}
	return nil
}

// close ends the tar stream and compresses it once (a layer built from uncompressed data
// would be compressed twice: for its digest, then again when written).
func (l *layer) close() (v1.Layer, error) {
	if err := l.tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(l.buf.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	l.buf = bytes.Buffer{}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}
