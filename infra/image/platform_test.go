package image

import "testing"

func TestPlatform(t *testing.T) {
	for _, tc := range []struct {
		instanceType, want string
	}{
		{"t3.medium", "linux/amd64"},
		{"m5.large", "linux/amd64"},
		{"m7i-flex.large", "linux/amd64"},
		{"m7a.xlarge", "linux/amd64"},
		{"g5.xlarge", "linux/amd64"}, // GPU series g, not Graviton
		{"g6e.2xlarge", "linux/amd64"},
		{"gr6.4xlarge", "linux/amd64"},
		{"inf2.xlarge", "linux/amd64"},
		{"p5en.48xlarge", "linux/amd64"},
		{"u-6tb1.metal", "linux/amd64"},
		{"t4g.medium", "linux/arm64"},
		{"m6g.large", "linux/arm64"},
		{"m7g.large", "linux/arm64"},
		{"m7gd.large", "linux/arm64"},
		{"c7gn.xlarge", "linux/arm64"},
		{"r8g.large", "linux/arm64"},
		{"x2gd.large", "linux/arm64"},
		{"im4gn.large", "linux/arm64"},
		{"is4gen.large", "linux/arm64"},
		{"hpc7g.4xlarge", "linux/arm64"},
		{"g5g.xlarge", "linux/arm64"}, // Graviton with an NVIDIA GPU
		{"a1.large", "linux/arm64"},
	} {
		if got := Platform(tc.instanceType); got != tc.want {
			t.Errorf("Platform(%q) = %q, want %q", tc.instanceType, got, tc.want)
		}
	}
}
