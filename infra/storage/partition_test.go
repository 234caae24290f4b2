package storage

import "testing"

func TestPartition(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::1:oidc-provider/x":        "aws",
		"arn:aws-cn:iam::1:oidc-provider/x":     "aws-cn",
		"arn:aws-us-gov:iam::1:oidc-provider/x": "aws-us-gov",
	} {
		if got, err := partition(arn); err != nil || got != want {
			t.Errorf("partition(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
	for _, bad := range []string{"", "oidc.eks.amazonaws.com", "arn::iam::1:x"} {
		if _, err := partition(bad); err == nil {
			t.Errorf("partition(%q) accepted a non-ARN", bad)
		}
	}
}
