// Package labels builds the Kubernetes recommended labels
// (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/)
// that every object of this stack carries, and the smaller, stable subset used in selectors.
package labels

// PartOf names the whole application in app.kubernetes.io/part-of.
const PartOf = "counter-mysql"

// App identifies one workload of one stack.
type App struct {
	Name      string // app.kubernetes.io/name, e.g. "mysql"
	Instance  string // app.kubernetes.io/instance: the stack, so two stacks in one cluster never select each other
	Component string // app.kubernetes.io/component, e.g. "database"
	Version   string // app.kubernetes.io/version, e.g. "8.4"
}

// Selector is what Services, NetworkPolicies, PDBs and the workload's own selector match on.
// It leaves out the version: a StatefulSet's selector is immutable and must survive upgrades.
func (a App) Selector() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     a.Name,
		"app.kubernetes.io/instance": a.Instance,
	}
}

// All is the full recommended set, a superset of Selector.
func (a App) All() map[string]string {
	m := a.Selector()
	m["app.kubernetes.io/component"] = a.Component
	m["app.kubernetes.io/part-of"] = PartOf
	m["app.kubernetes.io/managed-by"] = "pulumi"
	if a.Version != "" {
		m["app.kubernetes.io/version"] = a.Version
	}
	return m
}
