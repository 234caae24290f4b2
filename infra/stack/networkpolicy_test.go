package stack_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// pod is a traffic end: its namespace's labels and its own.
type pod struct {
	name              string
	namespace, labels map[string]string
}

// allowed evaluates the rendered NetworkPolicies as Kubernetes does, for the subset the
// stack uses (matchLabels selectors, numeric ports): traffic must be let out of from (if
// a policy with Egress selects it) and let into to (if a policy with Ingress selects it).
func allowed(policies []*unstructured.Unstructured, policyNS map[string]string, from, to pod, port int64, proto string) bool {
	return direction(policies, policyNS, from, to, "Egress", "egress", "to", port, proto) &&
		direction(policies, policyNS, to, from, "Ingress", "ingress", "from", port, proto)
}

// direction: does some policy selecting subject allow peer in its kind's rules? (true if
// no policy of that kind selects subject.)
func direction(policies []*unstructured.Unstructured, policyNS map[string]string, subject, peer pod, kind, rulesKey, peersKey string, port int64, proto string) bool {
	selected := false
	for _, p := range policies {
		if !matches(p.Object, subject.namespace, policyNS, subject.labels, "spec", "podSelector") || !hasType(p, kind) {
			continue
		}
		selected = true
		rules, _, _ := unstructured.NestedSlice(p.Object, "spec", rulesKey)
		for _, r := range rules {
			rule := r.(map[string]any)
			if portOK(rule, port, proto) && peerOK(rule, peersKey, policyNS, peer) {
				return true
			}
		}
	}
	return !selected
}

func hasType(p *unstructured.Unstructured, kind string) bool {
	types, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "policyTypes")
	for _, t := range types {
		if t == kind {
			return true
		}
	}
	return false
}

// matches: the subject is in the policy's namespace and its labels fit the selector at path.
func matches(obj map[string]any, ns, policyNS, labels map[string]string, path ...string) bool {
	return ns["kubernetes.io/metadata.name"] == policyNS["kubernetes.io/metadata.name"] && selects(obj, labels, path...)
}

func selects(obj map[string]any, labels map[string]string, path ...string) bool {
	want, _, _ := unstructured.NestedStringMap(obj, append(path, "matchLabels")...)
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func portOK(rule map[string]any, port int64, proto string) bool {
	ports, ok := rule["ports"].([]any)
	if !ok || len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := p.(map[string]any)
		if fmt.Sprint(pp["port"]) == fmt.Sprint(port) && pp["protocol"] == proto {
			return true
		}
	}
	return false
}

func peerOK(rule map[string]any, key string, policyNS map[string]string, peer pod) bool {
	peers, ok := rule[key].([]any)
	if !ok || len(peers) == 0 {
		return true // no peers listed: every peer
	}
	for _, x := range peers {
		sel := x.(map[string]any)
		_, hasNS := sel["namespaceSelector"]
		_, hasPod := sel["podSelector"]
		nsOK := (hasNS && selects(sel, peer.namespace, "namespaceSelector")) ||
			(!hasNS && peer.namespace["kubernetes.io/metadata.name"] == policyNS["kubernetes.io/metadata.name"])
		if nsOK && (!hasPod || selects(sel, peer.labels, "podSelector")) {
			return true
		}
	}
	return false
}

// policiesOf are the stack's NetworkPolicies with overrides, and the app's and MySQL's pod
// labels.
func policiesOf(t *testing.T, overrides map[string]string) (policies []*unstructured.Unstructured, app, mysql map[string]string) {
	t.Helper()
	for _, o := range stacktest.MustRun(t, overrides).MustObjects(t) {
		switch {
		case o.GetKind() == "NetworkPolicy":
			policies = append(policies, o)
		case o.GetKind() == "Deployment":
			app, _, _ = unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		case o.GetKind() == "StatefulSet":
			mysql, _, _ = unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		}
	}
	if len(policies) != 2 || app == nil || mysql == nil {
		t.Fatalf("want 2 NetworkPolicies, the app and MySQL; got %d policies", len(policies))
	}
	return policies, app, mysql
}

// TestNetworkPoliciesAllowOnlyWhatIsNeeded asserts who can reach what under the rendered
// policies: the app takes traffic on its port only and reaches only MySQL and DNS; MySQL
// takes only the app on 3306, any pod on its metrics port, and reaches nothing.
func TestNetworkPoliciesAllowOnlyWhatIsNeeded(t *testing.T) {
	policies, app, mysql := policiesOf(t, map[string]string{"mode": "existing"})
	ns := map[string]string{"kubernetes.io/metadata.name": policies[0].GetNamespace()}
	kubeSystem := map[string]string{"kubernetes.io/metadata.name": "kube-system"}
	var (
		appPod   = pod{"app", ns, app}
		mysqlPod = pod{"mysql", ns, mysql}
		other    = pod{"another pod in the namespace", ns, map[string]string{"app.kubernetes.io/name": "other"}}
		dns      = pod{"CoreDNS", kubeSystem, map[string]string{"k8s-app": "kube-dns"}}
		apiLike  = pod{"a kube-system pod that is not DNS", kubeSystem, map[string]string{"k8s-app": "metrics-server"}}
		outside  = pod{"a pod in another namespace", map[string]string{"kubernetes.io/metadata.name": "web"}, map[string]string{"app": "web"}}
	)
	for _, c := range []struct {
		from, to pod
		port     int64
		proto    string
		want     bool
	}{
		{appPod, mysqlPod, 3306, "TCP", true},
		{appPod, mysqlPod, 33060, "TCP", false},
		{other, mysqlPod, 3306, "TCP", false},
		{outside, mysqlPod, 3306, "TCP", false},
		{outside, appPod, 8080, "TCP", true},
		{outside, appPod, 9090, "TCP", false},
		{appPod, dns, 53, "UDP", true},
		{appPod, dns, 53, "TCP", true},
		{appPod, apiLike, 443, "TCP", false},
		{appPod, outside, 80, "TCP", false},
		{mysqlPod, dns, 53, "UDP", false},
		{mysqlPod, outside, 443, "TCP", false},
		// Scrapers, wherever Prometheus runs; the metrics port only.
		{outside, mysqlPod, 9104, "TCP", true},
		{other, mysqlPod, 9104, "TCP", true},
		{outside, mysqlPod, 9104, "UDP", false},
		{outside, mysqlPod, 9105, "TCP", false},
		{other, mysqlPod, 3306, "TCP", false},
	} {
		if got := allowed(policies, ns, c.from, c.to, c.port, c.proto); got != c.want {
			t.Errorf("%s -> %s:%d/%s allowed = %v, want %v", c.from.name, c.to.name, c.port, c.proto, got, c.want)
		}
	}
}

// TestNoMetricsPortWithoutTheExporter: with mysqlExporter false nothing serves metrics,
// and the policy admits nobody on that port.
func TestNoMetricsPortWithoutTheExporter(t *testing.T) {
	policies, _, mysql := policiesOf(t, map[string]string{"mode": "existing", "mysqlExporter": "false"})
	ns := map[string]string{"kubernetes.io/metadata.name": policies[0].GetNamespace()}
	outside := pod{"a pod in another namespace", map[string]string{"kubernetes.io/metadata.name": "monitoring"}, map[string]string{"app": "prometheus"}}
	if allowed(policies, ns, outside, pod{"mysql", ns, mysql}, 9104, "TCP") {
		t.Error("the metrics port is open with mysqlExporter false")
	}
}
