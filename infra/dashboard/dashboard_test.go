package dashboard

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/counter-mysql/counter-mysql/infra/database"
)

// committed is the generated dashboard in the repository, for users to import.
const committed = "../../docs/grafana-dashboard.json"

// dashboardJSON is the part of Grafana's dashboard model the tests read.
type dashboardJSON struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Panels     []panelJSON
	Templating struct {
		List []struct {
			Type, Name, Query string
			Datasource        *datasourceJSON
		}
	}
}

type panelJSON struct {
	ID         int
	Type       string
	Title      string
	Datasource *datasourceJSON
	Targets    []struct {
		Expr       string
		RefID      string `json:"refId"`
		Datasource *datasourceJSON
	}
	FieldConfig struct{ Defaults struct{ Unit string } }
}

type datasourceJSON struct {
	Type string
	UID  string `json:"uid"`
}

func generated(t *testing.T) ([]byte, dashboardJSON) {
	t.Helper()
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return b, d
}

// The file users import is the dashboard the code builds.
func TestCommittedFileIsCurrent(t *testing.T) {
	b, _ := generated(t)
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("docs/grafana-dashboard.json is not the dashboard the code builds: run `go generate ./infra/dashboard` and commit the file")
	}
}

// JSON gives the same bytes each time, and the SDK reads them back as a dashboard: the
// committed file changes only when the dashboard does, and Grafana's schema takes it.
func TestJSONIsStableAndReadsBack(t *testing.T) {
	a, _ := generated(t)
	b, _ := generated(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two calls of JSON differ")
	}
	plugins.RegisterDefaultPlugins() // to read panels' options and queries back
	//lint:ignore SA1019 the classic model, which dashboard.go builds
	var d sdk.Dashboard
	if err := json.Unmarshal(a, &d); err != nil {
		t.Fatalf("the SDK does not read the dashboard back: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("the SDK finds the dashboard invalid: %v", err)
	}
}

// The UID is the dashboard's identity in Grafana: a changed one makes the next import
// or sidecar load a second dashboard and breaks links. Change it only on purpose.
func TestUIDIsStable(t *testing.T) {
	_, d := generated(t)
	if UID != "counter-mysql" || d.UID != UID || d.Title != Title {
		t.Fatalf("UID = %q, JSON uid = %q, title %q: want counter-mysql in both, and Title", UID, d.UID, d.Title)
	}
}

func TestPanels(t *testing.T) {
	_, d := generated(t)
	want := []string{
		"App: Requests per second by code", "App: Error ratio (5xx)", "App: Latency of /get-number", "App: Ready app pods",
		"Counter: Numbers left", "Counter: Last number", "Counter: Numbers per second", "Counter: Batch size",
		"MySQL: MySQL up", "MySQL: Statement time", "MySQL: DB errors per second", "MySQL: Commits per second",
		"MySQL: Connections", "MySQL: Volume use", "MySQL: Volume space",
	}
	var got []string
	row := ""
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			row = p.Title
			continue
		}
		got = append(got, row+": "+p.Title)
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%q has no unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%q has no query", p.Title)
		}
		checkDatasource(t, p.Title, p.Datasource)
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" {
				t.Errorf("%q: query %q with refId %q", p.Title, q.Expr, q.RefID)
			}
			checkDatasource(t, p.Title+" "+q.RefID, q.Datasource)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("panels:\n got %q\nwant %q", got, want)
	}
}

func checkDatasource(t *testing.T, what string, ds *datasourceJSON) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf("%s: data source %+v, want the datasource variable's", what, ds)
	}
}

// The data source and the namespace are chosen on the dashboard, so one serves every
// stack on any Prometheus.
func TestVariables(t *testing.T) {
	_, d := generated(t)
	vars := d.Templating.List
	if len(vars) != 2 {
		t.Fatalf("variables %+v, want datasource and namespace", vars)
	}
	if v := vars[0]; v.Type != "datasource" || v.Name != "datasource" || v.Query != "prometheus" {
		t.Errorf("first variable %+v, want the Prometheus data source", v)
	}
	if v := vars[1]; v.Type != "query" || v.Name != "namespace" || v.Query != "label_values(counter_http_requests_total, namespace)" {
		t.Errorf("second variable %+v, want the namespaces that run the app", v)
	}
	checkDatasource(t, "namespace variable", vars[1].Datasource)
}

// The dashboard's volume is the one the stack creates.
func TestClaimIsDatabases(t *testing.T) {
	if mysqlClaim != database.ClaimName {
		t.Fatalf("mysqlClaim = %q, the stack's claim is %q", mysqlClaim, database.ClaimName)
	}
}

func TestConfigMapData(t *testing.T) {
	b, _ := generated(t)
	data, err := ConfigMapData()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 1 || data[ConfigMapKey] != string(b) || !strings.HasSuffix(ConfigMapKey, ".json") {
		t.Fatalf("ConfigMapData has keys %v, want only %s with the dashboard's JSON", slices.Collect(maps.Keys(data)), ConfigMapKey)
	}
}
