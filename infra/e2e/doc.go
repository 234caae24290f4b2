// Package e2e holds the tests that run the stack's Kubernetes objects, as the Pulumi
// program renders them (infra/stack/stacktest), against a real API server and real
// controllers (infra/kubetest): server-side apply, the StatefulSet's pod and volume
// lifecycle, the destroy-time volume clean-up, and Pod Security admission.
//
// Run with `go test ./infra/e2e/` once the binaries are built (`make kube-bins`);
// without them the tests skip.
package e2e
