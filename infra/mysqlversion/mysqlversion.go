// Package mysqlversion knows which MySQL releases the stack deploys and which upgrades
// between them MySQL supports in place, so a bad version change is refused at preview
// instead of leaving a data directory the new server cannot open.
package mysqlversion

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ConfigKey is the stack setting every message tells the user to change.
const ConfigKey = "counter-mysql:mysqlVersion"

// Version is a MySQL release series (8.0, 8.4, 9.N) with an optional patch.
type Version struct {
	Major, Minor int
	// Patch is -1 when the version names a whole series ("8.4"), whose image tag floats.
	Patch int
}

var form = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?$`)

// Parse accepts 8.0, 8.4 and 9.N, each optionally with a patch (8.4.3).
func Parse(s string) (Version, error) {
	m := form.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a MySQL version: use 8.0, 8.4 or 9.x (optionally with a patch, e.g. 8.4.3)", s)
	}
	v := Version{Major: atoi(m[1]), Minor: atoi(m[2]), Patch: -1}
	if m[3] != "" {
		v.Patch = atoi(m[3])
	}
	if !v.supported() {
		return Version{}, fmt.Errorf("%q is not supported: use 8.0, 8.4 or 9.x (optionally with a patch, e.g. 8.4.3)", s)
	}
	return v, nil
}

// atoi is only called on strings the regexp proved to be digits.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// supported lists the series the official image ships that this stack is tested with:
// the two LTS lines and the 9.x innovation line.
func (v Version) supported() bool {
	switch v.Major {
	case 8:
		return v.Minor == 0 || v.Minor == 4
	case 9:
		return true
	}
	return false
}

// String is the version as written in config and as the image tag.
func (v Version) String() string {
	if v.Patch < 0 {
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Image is the official Docker Hub image for this version.
func (v Version) Image() string { return "mysql:" + v.String() }

// Admits reports whether w is what v asks for: v itself or, when v names a series, one
// of its patches.
func (v Version) Admits(w Version) bool {
	return w == v || (v.Patch < 0 && compareSeries(v, w) == 0)
}

// SplitImage splits an image reference into its name, tag and digest ("" when absent).
// Neither a registry's port (localhost:5000/mysql) nor the digest (@sha256:…) is the tag.
func SplitImage(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i:], "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// FromImage reads the version back from an image reference's tag, such as "mysql:8.4.3"
// or "localhost:5000/mysql:8.4.3@sha256:…".
func FromImage(image string) (Version, error) {
	_, tag, _ := SplitImage(image)
	if tag == "" {
		return Version{}, fmt.Errorf("image %q has no version tag", image)
	}
	return Parse(tag)
}

// CheckUpgrade allows only the in-place upgrades MySQL supports: patches within a series,
// 8.0 -> 8.4, 8.4 -> 9.x and 9.x -> a later 9.y. Everything else, and any downgrade, is
// refused with a message that names the config key, both versions and the way forward.
func CheckUpgrade(old, next Version) error {
	refuse := func(why, fix string) error {
		return fmt.Errorf("%s: %s -> %s %s; %s", ConfigKey, old, next, why, fix)
	}
	keep := fmt.Sprintf("set %s back to %s", ConfigKey, old)
	switch c := compareSeries(old, next); {
	case c == 0:
		if old.Patch >= 0 && next.Patch >= 0 && next.Patch < old.Patch {
			return refuse("is a downgrade, which MySQL does not support in place", keep)
		}
		return nil
	case c > 0:
		return refuse("is a downgrade, which MySQL does not support in place",
			keep+" (a downgrade needs a logical dump restored into a fresh server)")
	case old.Major == 8 && old.Minor == 0 && next.Major == 8 && next.Minor == 4,
		old.Major == 8 && old.Minor == 4 && next.Major == 9,
		old.Major == 9 && next.Major == 9:
		return nil
	case old.Major == 8 && old.Minor == 0:
		return refuse("skips the 8.4 LTS, which MySQL does not support",
			fmt.Sprintf("upgrade to 8.4 first (set %s to 8.4, pulumi up), then to %s", ConfigKey, next))
	}
	return refuse("is not a supported upgrade path", keep)
}

func compareSeries(a, b Version) int {
	if a.Major != b.Major {
		return a.Major - b.Major
	}
	return a.Minor - b.Minor
}
