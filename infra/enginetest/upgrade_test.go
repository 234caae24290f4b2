package enginetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/counter-mysql/counter-mysql/infra/database"
)

// TestNamespaceMovedFromDatabase: stacks deployed before the namespace moved from the
// database component to the stack have it under the database in their state. An up of
// today's program must keep that namespace (an alias), not replace it: deleting a namespace
// deletes the StatefulSet, the claim and so the data in it.
func TestNamespaceMovedFromDatabase(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, nil)
	s.MustUp(t)
	ns, err := w.client.CoreV1().Namespaces().Get(t.Context(), s.namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The state as the program before the move left it.
	dep, err := s.Export(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	old, err := namespaceUnderDatabase(dep.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	dep.Deployment = old
	if err := s.Import(t.Context(), dep); err != nil {
		t.Fatalf("stack import of the old layout: %v", err)
	}

	if _, _, err := s.RunPreview(t, optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview of a stack with the old layout plans changes: %v", err)
	}
	res, _ := s.MustUp(t)
	for op, n := range *res.Summary.ResourceChanges {
		if op != string(apitype.OpSame) && op != string(apitype.OpRead) {
			t.Errorf("up of a stack with the old layout: %d %s: %v", n, op, *res.Summary.ResourceChanges)
		}
	}
	after, err := w.client.CoreV1().Namespaces().Get(t.Context(), s.namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace after the up: %v", err)
	}
	if after.UID != ns.UID || after.DeletionTimestamp != nil {
		t.Errorf("the up replaced or is deleting the namespace (uid %s -> %s, deleting %v)", ns.UID, after.UID, after.DeletionTimestamp)
	}
	if urns := s.URNs(t); slices.ContainsFunc(urns, func(u string) bool { return strings.Contains(u, database.Type+"$kubernetes:core/v1:Namespace") }) {
		t.Errorf("the state still has the namespace under the database: %v", urns)
	}
}

// namespaceUnderDatabase rewrites a deployment so that the namespace is the database
// component's child, listed after it, as the program before the move left it.
func namespaceUnderDatabase(deployment json.RawMessage) (json.RawMessage, error) {
	var d map[string]any
	if err := json.Unmarshal(deployment, &d); err != nil {
		return nil, err
	}
	resources, _ := d["resources"].([]any)
	find := func(typ string) int {
		return slices.IndexFunc(resources, func(r any) bool { return r.(map[string]any)["type"] == typ })
	}
	n, db := find("kubernetes:core/v1:Namespace"), find(database.Type)
	if n < 0 || db < 0 {
		return nil, fmt.Errorf("no namespace (%d) or database component (%d) in the state", n, db)
	}
	nsRes := resources[n].(map[string]any)
	nsRes["parent"] = resources[db].(map[string]any)["urn"]
	newURN := nsRes["urn"].(string)
	oldURN := strings.Replace(newURN, "::kubernetes:core/v1:Namespace::", "::"+database.Type+"$kubernetes:core/v1:Namespace::", 1)
	if n < db { // a parent must come before its children
		resources = slices.Insert(slices.Delete(resources, n, n+1), db, any(nsRes))
	}
	d["resources"] = resources
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(strings.ReplaceAll(string(b), `"`+newURN+`"`, `"`+oldURN+`"`)), nil
}
