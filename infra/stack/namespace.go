package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/ownership"
	"github.com/counter-mysql/counter-mysql/infra/podsecurity"
)

// newNamespace creates the namespace the database and the app share. The stack owns it:
// a destroy deletes it last, with whatever is still in it, yet before the resources in
// after, which deleting its objects needs (the final VolumeSnapshot's finalizer is the
// snapshot controller's to remove).
func newNamespace(ctx *pulumi.Context, name string, provider pulumi.ProviderResource, after []pulumi.Resource) (*corev1.Namespace, error) {
	return corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(name),
			Annotations: ownership.Annotations(nil),
			Labels: pulumi.StringMap{
				"app.kubernetes.io/part-of":          pulumi.String(labels.PartOf),
				"app.kubernetes.io/managed-by":       pulumi.String("pulumi"),
				"pod-security.kubernetes.io/enforce": pulumi.String(podsecurity.Level),
			},
		},
	},
		pulumi.Provider(provider),
		pulumi.DependsOn(after),
		// Stacks deployed before the namespace moved here have it as a child of the database
		// component: without this alias the engine would replace the namespace, and deleting
		// the old one deletes everything in it.
		pulumi.Aliases([]pulumi.Alias{{URN: pulumi.URN(namespaceURNUnderDatabase(ctx, name))}}),
	)
}

// namespaceURNUnderDatabase is the namespace's URN when the database component
// (databaseName) created it.
func namespaceURNUnderDatabase(ctx *pulumi.Context, name string) resource.URN {
	return resource.NewURN(tokens.QName(ctx.Stack()), tokens.PackageName(ctx.Project()),
		database.Type, "kubernetes:core/v1:Namespace", name)
}
