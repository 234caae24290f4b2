package stack_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

const podMonitor = "kubernetes:monitoring.coreos.com/v1:PodMonitor"

// The monitoring objects exist exactly when the setting and the cluster say so, carry the
// configured labels, and scrape the app's pods by their port name; on without the API is
// refused before anything is registered.
func TestMonitoringFollowsTheCluster(t *testing.T) {
	tests := []struct {
		setting string
		serves  bool
		want    int // PodMonitors
		fail    string
	}{
		{"auto", true, 1, ""},
		{"auto", false, 0, ""},
		{"off", true, 0, ""},
		{"on", true, 1, ""},
		{"on", false, 0, "counter-mysql:monitoring is on, but the cluster does not serve monitoring.coreos.com/v1"},
	}
	for _, tt := range tests {
		cfg := stacktest.Config(map[string]string{"mode": "existing", "monitoring": tt.setting, "monitoringLabels": "release=prom"})
		rec, err := stacktest.RunServingMonitoring(cfg, tt.serves)
		if tt.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tt.fail) || len(rec.Resources) != 0 {
				t.Errorf("%s, served %v: error %v after %d resources, want %q before any", tt.setting, tt.serves, err, len(rec.Resources), tt.fail)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s, served %v: %v", tt.setting, tt.serves, err)
		}
		monitors := rec.ByType(podMonitor)
		if len(monitors) != tt.want {
			t.Errorf("%s, served %v: %d PodMonitors, want %d", tt.setting, tt.serves, len(monitors), tt.want)
		}
		rules := rec.ByType("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
		if len(rules) != min(tt.want, 1) {
			t.Errorf("%s, served %v: %d PrometheusRules, want %d", tt.setting, tt.serves, len(rules), min(tt.want, 1))
		}
		for _, r := range rules {
			groups := fmt.Sprint(r.Inputs.Mappable()["spec"])
			for _, want := range []string{"CounterNoReadyPod", `job="counter/counter-app"`, `persistentvolumeclaim="data-mysql-0"`} {
				if !strings.Contains(groups, want) {
					t.Errorf("PrometheusRule spec lacks %s: %s", want, groups)
				}
			}
		}
		dashboard, ok := rec.Get("kubernetes:core/v1:ConfigMap", "monitoring-dashboard")
		if ok != (tt.want > 0) {
			t.Errorf("%s, served %v: dashboard ConfigMap %v, want %v", tt.setting, tt.serves, ok, tt.want > 0)
		}
		if ok {
			in := dashboard.Inputs.Mappable()
			labels := in["metadata"].(map[string]any)["labels"].(map[string]any)
			data := in["data"].(map[string]any)
			if labels["grafana_dashboard"] != "1" || labels["release"] != "prom" || !strings.Contains(fmt.Sprint(data["counter-mysql.json"]), `"uid": "counter-mysql"`) {
				t.Errorf("dashboard ConfigMap labels %v, data keys %v: want the sidecar's label, release=prom and the dashboard", labels, slices.Collect(maps.Keys(data)))
			}
		}
		for _, m := range monitors {
			in := m.Inputs.Mappable()
			meta := in["metadata"].(map[string]any)
			if meta["name"] != "counter-app" || meta["labels"].(map[string]any)["release"] != "prom" {
				t.Errorf("PodMonitor metadata %v, want name counter-app and label release=prom", meta)
			}
			spec := in["spec"].(map[string]any)
			endpoint := spec["podMetricsEndpoints"].([]any)[0].(map[string]any)
			selector := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
			if endpoint["port"] != "http" || endpoint["path"] != "/metrics" || selector["app.kubernetes.io/name"] != "counter" {
				t.Errorf("PodMonitor spec %v, want the app's pods on port http, /metrics", spec)
			}
		}
	}
}
