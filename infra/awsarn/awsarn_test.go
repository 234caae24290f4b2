package awsarn

import "testing"

func TestPartition(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::1:oidc-provider/x":        "aws",
		"arn:aws-cn:iam::1:oidc-provider/x":     "aws-cn",
		"arn:aws-us-gov:iam::1:oidc-provider/x": "aws-us-gov",
	} {
		if got, err := Partition(arn); err != nil || got != want {
			t.Errorf("Partition(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
	for _, bad := range []string{"", "oidc.eks.amazonaws.com", "arn::iam::1:x"} {
		if _, err := Partition(bad); err == nil {
			t.Errorf("Partition(%q) accepted a non-ARN", bad)
		}
	}
}

func TestManagedPolicy(t *testing.T) {
	got, err := ManagedPolicy("arn:aws-cn:iam::1:role/x", "AmazonEKSWorkerNodePolicy")
	if want := "arn:aws-cn:iam::aws:policy/AmazonEKSWorkerNodePolicy"; err != nil || got != want {
		t.Errorf("ManagedPolicy = %q, %v; want %q", got, err, want)
	}
}
