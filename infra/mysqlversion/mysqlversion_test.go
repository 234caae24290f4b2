package mysqlversion

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{in: "8.0", want: Version{8, 0, -1}},
		{in: "8.4", want: Version{8, 4, -1}},
		{in: "8.4.3", want: Version{8, 4, 3}},
		{in: "9.1", want: Version{9, 1, -1}},
		{in: "9.3.0", want: Version{9, 3, 0}},
		{in: "8.1", wantErr: `"8.1" is not supported: use 8.0, 8.4 or 9.x`},
		{in: "5.7", wantErr: "is not supported"},
		{in: "10.0", wantErr: "is not supported"},
		{in: "8", wantErr: "is not a MySQL version"},
		{in: "latest", wantErr: "is not a MySQL version"},
		{in: "8.4.3-oracle", wantErr: "is not a MySQL version"},
		{in: "", wantErr: "is not a MySQL version"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in || got.Image() != "mysql:"+tt.in {
				t.Errorf("round trip: String() = %q, Image() = %q", got.String(), got.Image())
			}
		})
	}
}

// digest is a well-formed image digest.
const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestFromImage(t *testing.T) {
	for image, want := range map[string]string{
		"mysql:8.4.3":                     "8.4.3",
		"docker.io/library/mysql:9.1":     "9.1",
		"registry.local:5000/mysql:8.0.4": "8.0.4",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/mysql:8.4.3": "8.4.3",
		// The digest's own ':' is not the tag's.
		"mysql:8.4.3@" + digest:                    "8.4.3",
		"localhost:5000/mysql:8.4@" + digest:       "8.4",
		"registry.example.com/mysql:9.1@" + digest: "9.1",
	} {
		v, err := FromImage(image)
		if err != nil || v.String() != want {
			t.Errorf("FromImage(%q) = %v, %v; want %s", image, v, err, want)
		}
	}
	for _, image := range []string{
		"mysql", "registry.local:5000/mysql", "mysql:lts",
		"mysql@" + digest, "localhost:5000/mysql@" + digest,
	} {
		if _, err := FromImage(image); err == nil {
			t.Errorf("FromImage(%q) accepted an image without a supported tag", image)
		}
	}
}

func TestAdmits(t *testing.T) {
	for _, tt := range []struct {
		v, w string
		want bool
	}{
		{"8.4", "8.4", true},
		{"8.4", "8.4.3", true},
		{"8.4.3", "8.4.3", true},
		{"8.4.3", "8.4.2", false},
		{"8.4.3", "8.4", false},
		{"8.4", "9.1", false},
		{"8.4", "8.0.40", false},
	} {
		if got := mustParse(t, tt.v).Admits(mustParse(t, tt.w)); got != tt.want {
			t.Errorf("%s.Admits(%s) = %v, want %v", tt.v, tt.w, got, tt.want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for ref, want := range map[string][3]string{
		"mysql":                                {"mysql", "", ""},
		"mysql:8.4":                            {"mysql", "8.4", ""},
		"localhost:5000/mysql":                 {"localhost:5000/mysql", "", ""},
		"localhost:5000/mysql:8.4.3@" + digest: {"localhost:5000/mysql", "8.4.3", digest},
		"registry.example.com/mysql@" + digest: {"registry.example.com/mysql", "", digest},
	} {
		if name, tag, dig := SplitImage(ref); [3]string{name, tag, dig} != want {
			t.Errorf("SplitImage(%q) = %q, %q, %q; want %q", ref, name, tag, dig, want)
		}
	}
}

func TestCheckUpgrade(t *testing.T) {
	tests := []struct {
		old, next string
		wantErr   string // empty: allowed
	}{
		{"8.4", "8.4", ""},
		{"8.4.2", "8.4.3", ""},
		{"8.4", "8.4.3", ""},
		{"8.4.3", "8.4", ""},
		{"8.0.40", "8.0.41", ""},
		{"8.0", "8.4", ""},
		{"8.0.40", "8.4.3", ""},
		{"8.4", "9.1", ""},
		{"8.4.3", "9.3.0", ""},
		{"9.1", "9.2", ""},
		{"9.1", "9.4", ""},
		{"8.4.3", "8.4.2", "8.4.3 -> 8.4.2 is a downgrade"},
		{"8.4", "8.0", "8.4 -> 8.0 is a downgrade"},
		{"9.2", "9.1", "9.2 -> 9.1 is a downgrade"},
		{"9.1", "8.4", "9.1 -> 8.4 is a downgrade"},
		{"8.0", "9.1", "8.0 -> 9.1 skips the 8.4 LTS"},
		{"8.0.40", "9.1", "upgrade to 8.4 first"},
	}
	for _, tt := range tests {
		t.Run(tt.old+"->"+tt.next, func(t *testing.T) {
			err := CheckUpgrade(mustParse(t, tt.old), mustParse(t, tt.next))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckUpgrade refused a supported upgrade: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckUpgrade allowed %s -> %s", tt.old, tt.next)
			}
			for _, want := range []string{tt.wantErr, ConfigKey} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func mustParse(t *testing.T, s string) Version {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
