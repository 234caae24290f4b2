// Package kubescore runs kube-score (pinned in tools/go.mod, built by tools/build.sh) on
// every Kubernetes object the stack renders, for the default (EKS) and the existing-cluster
// configuration, and fails on any finding not listed, with its reason, in accepted.txt.
//
// Without the binary the test skips and says how to build it (`make kube-score`); with
// KUBESCORE_REQUIRE=1 (set by .ci/run) it fails instead.
package kubescore
