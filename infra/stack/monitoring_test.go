package stack_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

const podMonitor = "kubernetes:monitoring.coreos.com/v1:PodMonitor"

// The monitoring objects exist exactly when the setting and the cluster say so, carry the
// configured labels, and scrape the app's pods and MySQL's exporter by their port names;
// on without the API is refused before anything is registered.
func TestMonitoringFollowsTheCluster(t *testing.T) {
	tests := []struct {
		setting string
		serves  bool
		want    int // PodMonitors
		fail    string
	}{
		{"auto", true, 2, ""},
		{"auto", false, 0, ""},
		{"off", true, 0, ""},
		{"on", true, 2, ""},
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
		// PodMonitor name -> the pods' app.kubernetes.io/name and the port scraped.
		scrapes := map[string][2]string{"counter-app": {"counter", "http"}, "mysql": {"mysql", database.ExporterPortName}}
		for _, m := range monitors {
			in := m.Inputs.Mappable()
			meta := in["metadata"].(map[string]any)
			want, ok := scrapes[fmt.Sprint(meta["name"])]
			if !ok || meta["labels"].(map[string]any)["release"] != "prom" {
				t.Errorf("PodMonitor metadata %v, want name counter-app or mysql and label release=prom", meta)
				continue
			}
			spec := in["spec"].(map[string]any)
			endpoint := spec["podMetricsEndpoints"].([]any)[0].(map[string]any)
			selector := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
			if endpoint["port"] != want[1] || endpoint["path"] != "/metrics" || selector["app.kubernetes.io/name"] != want[0] {
				t.Errorf("PodMonitor %v spec %v, want the %s pods on port %s, /metrics", meta["name"], spec, want[0], want[1])
			}
		}
	}
}

// TestNoMySQLPodMonitorWithoutTheExporter: with mysqlExporter false nothing serves MySQL's
// metrics, so there is no PodMonitor for it and the alerts on its metrics are left out.
func TestNoMySQLPodMonitorWithoutTheExporter(t *testing.T) {
	rec, err := stacktest.RunServingMonitoring(stacktest.Config(map[string]string{"mode": "existing", "monitoring": "on", "mysqlExporter": "false"}), true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range rec.ByType(podMonitor) {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"monitoring-counter-app"}) {
		t.Errorf("PodMonitors %q, want the app's only", names)
	}
	for _, r := range rec.ByType("kubernetes:monitoring.coreos.com/v1:PrometheusRule") {
		if spec := fmt.Sprint(r.Inputs.Mappable()["spec"]); strings.Contains(spec, `job="counter/mysql"`) {
			t.Errorf("the alerts select the exporter's job, which nothing scrapes: %s", spec)
		}
	}
}
