// Package awsarn reads ARNs, so AWS-managed policy ARNs are right in every partition
// (aws, aws-cn, aws-us-gov) without another lookup.
package awsarn

import (
	"fmt"
	"strings"
)

// Partition reads the partition from an ARN.
func Partition(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || parts[1] == "" {
		return "", fmt.Errorf("%q is not an ARN", arn)
	}
	return parts[1], nil
}

// ManagedPolicy is the ARN of the AWS-managed policy name (with its path, such as
// "service-role/AmazonEBSCSIDriverPolicy") in the partition of arn.
func ManagedPolicy(arn, name string) (string, error) {
	p, err := Partition(arn)
	return "arn:" + p + ":iam::aws:policy/" + name, err
}
