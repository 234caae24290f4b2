// Package dashboard builds the operator's Grafana dashboard of a counter-mysql stack: the
// app's requests, the counter's numbers, MySQL and its volume. One dashboard serves every
// stack in a cluster: the namespace is a variable and every query filters on it.
//
// docs/grafana-dashboard.json is its output, for importing by hand; ConfigMapData is the
// same dashboard for a ConfigMap that Grafana's dashboard sidecar loads.
package dashboard

// The SDK marks its classic dashboard model deprecated for dashboardv2, the schema of
// Grafana 12's new dashboard API. The classic JSON is the one every Grafana imports and
// the sidecar's file provisioning loads, so it is the one built here.
//lint:file-ignore SA1019 the classic model is what import and file provisioning read

//go:generate go run ./gen ../../docs/grafana-dashboard.json

import (
	"encoding/json"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const (
	// UID is the dashboard's identity in Grafana. It never changes: a new import or a
	// sidecar reload then replaces the dashboard instead of adding a copy, and links to
	// it keep working.
	UID = "counter-mysql"
	// Title is the dashboard's name in Grafana's list.
	Title = "counter-mysql"
	// ConfigMapKey is the dashboard's file name in the ConfigMap: the sidecar writes each
	// key as a file into Grafana's dashboards folder.
	ConfigMapKey = "counter-mysql.json"
	// SidecarLabel and SidecarLabelValue mark a ConfigMap as a dashboard for the
	// kube-prometheus-stack Grafana sidecar (its default label).
	SidecarLabel      = "grafana_dashboard"
	SidecarLabelValue = "1"
)

// Build returns the dashboard.
func Build() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(Title).
		Uid(UID).
		Description("A counter-mysql stack: the app's requests, the numbers it hands out, MySQL and its volume. Pick the stack's namespace.").
		Tags([]string{"counter-mysql"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder(datasourceVariable).
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder(namespaceVariable).
			Label("Namespace").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: &namespaceQuery}).
			Definition(namespaceQuery).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc))
	for _, r := range rows() {
		b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			b.WithPanel(p)
		}
	}
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	numberPanels(&d)
	return d, nil
}

// numberPanels gives every row and panel an id in layout order. Grafana needs ids unique
// within the dashboard and would make them up on load; set here, they are the same in
// every output, so the committed JSON changes only when the dashboard does.
func numberPanels(d *dashboard.Dashboard) {
	for i, p := range d.Panels {
		id := uint32(i + 1)
		if p.RowPanel != nil {
			p.RowPanel.Id = id
		} else {
			p.Panel.Id = &id
		}
	}
}

// JSON is the dashboard as Grafana imports it, indented and ending in a newline, the
// same bytes on every call.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ConfigMapData is the data of a ConfigMap that ships the dashboard: ConfigMapKey -> JSON.
// Label the ConfigMap SidecarLabel: SidecarLabelValue.
func ConfigMapData() (map[string]string, error) {
	b, err := JSON()
	if err != nil {
		return nil, err
	}
	return map[string]string{ConfigMapKey: string(b)}, nil
}
