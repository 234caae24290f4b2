package kubetest

import (
	"os"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// TestPrometheusOperatorVersionIsTheToolsPin: MonitoringCRDDir is named after the constant
// and build.sh after go.mod's pin (which it checks); apart, the tests would look for CRDs
// in a directory `make monitoring-crds` never writes, while it says "up to date".
func TestPrometheusOperatorVersionIsTheToolsPin(t *testing.T) {
	gomod, err := os.ReadFile("tools/promcrd/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	pinned := "no version"
	if m := regexp.MustCompile(`(?m)^(require)?\s*github\.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring (\S+)$`).FindSubmatch(gomod); m != nil {
		pinned = string(m[2])
	}
	if pinned != PrometheusOperatorVersion {
		t.Errorf("tools/promcrd/go.mod pins the operator's types at %s, PrometheusOperatorVersion is %s: make them agree", pinned, PrometheusOperatorVersion)
	}
}

var (
	podMonitors     = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "podmonitors"}
	prometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
)

// A PodMonitor and a PrometheusRule of the kind the stack creates for issue 25.
const (
	validPodMonitor = `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: counter}
spec:
  selector: {matchLabels: {app: counter}}
  podMetricsEndpoints: [{port: http, path: /metrics, interval: 30s}]
`
	validPrometheusRule = `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: counter}
spec:
  groups:
  - name: counter
    rules:
    - alert: CounterNotReady
      expr: max(counter_ready) < 1
      for: 5m
      labels: {severity: critical}
`
)

// TestMonitoringCRDsEnforceTheirSchema installs the generated CRDs on the real API server,
// creates a valid PodMonitor and PrometheusRule, and checks that objects breaking the
// schema are refused: the CRDs are structural and validate, not merely accepted.
func TestMonitoringCRDsEnforceTheirSchema(t *testing.T) {
	c := Shared(t)
	if _, err := monitoringCRDFiles(); err != nil {
		skipOrRequire(t, err.Error())
	}
	if err := InstallMonitoringCRDs(t.Context(), c.Config); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, nil)
	create := func(gvr schema.GroupVersionResource, manifest string) (*unstructured.Unstructured, error) {
		t.Helper()
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
			t.Fatal(err)
		}
		return dyn.Resource(gvr).Namespace(ns).Create(t.Context(), obj, metav1.CreateOptions{})
	}

	pm, err := create(podMonitors, validPodMonitor)
	if err != nil {
		t.Fatalf("valid PodMonitor refused: %v", err)
	}
	// A field the schema did not know would have been pruned silently.
	if eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints"); len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" {
		t.Errorf("PodMonitor stored as %v: its endpoint was pruned", pm.Object["spec"])
	}
	if _, err := create(prometheusRules, validPrometheusRule); err != nil {
		t.Fatalf("valid PrometheusRule refused: %v", err)
	}

	for _, bad := range []struct {
		name, manifest, field string
		gvr                   schema.GroupVersionResource
	}{
		{"PodMonitor with podMetricsEndpoints a string", strings.Replace(validPodMonitor,
			"podMetricsEndpoints: [{port: http, path: /metrics, interval: 30s}]", "podMetricsEndpoints: http", 1),
			"spec.podMetricsEndpoints", podMonitors},
		{"PodMonitor with a malformed interval", strings.Replace(validPodMonitor, "interval: 30s", "interval: half a minute", 1),
			"spec.podMetricsEndpoints[0].interval", podMonitors},
		{"PrometheusRule whose rule has no expr", strings.Replace(validPrometheusRule, "expr: max(counter_ready) < 1", "", 1),
			"spec.groups[0].rules[0].expr", prometheusRules},
	} {
		// A name of its own, so that one accepted by mistake does not make the next a conflict.
		_, err := create(bad.gvr, strings.Replace(bad.manifest, "{name: counter}", "{generateName: bad-}", 1))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%s: want Invalid naming %s, got %v", bad.name, bad.field, err)
		}
	}
}
