// Package ownership marks the Kubernetes objects the stack owns outright, so that every
// `pulumi up` converges on them whatever an earlier run left behind.
//
// The Kubernetes provider server-side-applies each object under a field manager named
// pulumi-kubernetes-<random>, recorded in the stack's state. A run that dies between
// applying an object and saving the state (kill -9, a lost CI runner) leaves the object
// with one manager, and the retry applies it under a new one: both own the same fields,
// and from then on every change of such a field (appReplicas: .spec.replicas) fails with
// "Server-Side Apply field conflict", which refresh does not clear. With
// pulumi.com/patchForce the provider takes the fields over instead.
//
// Forcing is safe here because no other manager has a claim on what the stack sets: the
// stack creates these objects and sets only fields it decides (no HorizontalPodAutoscaler
// or operator shares them), so whoever else holds one is a stale run of this stack or a
// hand edit (kubectl scale, kubectl edit) that the next up is meant to undo. Fields the
// stack does not set are never touched.
package ownership

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// ForceAnnotation makes the Kubernetes provider force its server-side apply.
const ForceAnnotation = "pulumi.com/patchForce"

// Annotations are extra, plus the annotation every owned object carries.
func Annotations(extra pulumi.StringMap) pulumi.StringMap {
	m := pulumi.StringMap{ForceAnnotation: pulumi.String("true")}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
