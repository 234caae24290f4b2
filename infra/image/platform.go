package image

import (
	"strings"
	"unicode"
)

// Platform returns the container platform that nodes of an EC2 instance type run:
// linux/arm64 for AWS Graviton families, linux/amd64 for every other family.
func Platform(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if graviton(family) {
		return "linux/arm64"
	}
	return "linux/amd64"
}

// graviton reports whether an instance family runs on AWS Graviton. A family name is the
// series letters, the generation digits, then attribute letters (m7gd: series m, generation
// 7, attributes gd), optionally followed by an option such as -flex; a "g" among the
// attributes means Graviton (t4g, c7gn, im4gn, is4gen, g5g), while a "g" series is a GPU
// family (g5, g6e) on x86. a1, the first Graviton family, predates the convention.
func graviton(family string) bool {
	if family == "a1" {
		return true
	}
	generation := strings.IndexFunc(family, unicode.IsDigit)
	if generation <= 0 {
		return false
	}
	attributes, _, _ := strings.Cut(strings.TrimLeftFunc(family[generation:], unicode.IsDigit), "-")
	return strings.Contains(attributes, "g")
}
