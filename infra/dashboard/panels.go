package dashboard

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

const (
	datasourceVariable = "datasource"
	namespaceVariable  = "namespace"
	// mysqlClaim is MySQL's volume claim (infra/database.ClaimName, which the test
	// checks): not imported, so that generating the dashboard does not build the Pulumi SDK.
	mysqlClaim = "data-mysql-0"
	// maxNumber is the last number the counter hands out (2^63-1).
	maxNumber = "9223372036854775807"
)

// namespaceQuery lists the namespaces that run the app. A variable: the SDK takes its address.
var namespaceQuery = "label_values(counter_http_requests_total, namespace)"

// datasource is every panel's and query's data source: the one the variable picks.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + datasourceVariable + "}")}
}

// selector is metric's series in the chosen namespace, with more label matchers.
func selector(metric string, matchers ...string) string {
	all := append([]string{namespaceVariable + `="$` + namespaceVariable + `"`}, matchers...)
	return metric + "{" + strings.Join(all, ",") + "}"
}

// rate is the summed per-second rate of a counter over all pods. $__rate_interval is
// Grafana's window for rate: at least four scrape intervals, so no gaps when zoomed in.
func rate(metric string, matchers ...string) string {
	return "sum(rate(" + selector(metric, matchers...) + "[$__rate_interval]))"
}

// quantile is the q quantile of a histogram over all pods.
func quantile(q float64, histogram string, matchers ...string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(%s[$__rate_interval])))", q, selector(histogram+"_bucket", matchers...))
}

// target is one query of a panel and its series' name in the legend.
type target struct{ expr, legend string }

// percentiles are the median and the tail of a histogram.
func percentiles(histogram string, matchers ...string) []target {
	return []target{{quantile(0.5, histogram, matchers...), "p50"}, {quantile(0.99, histogram, matchers...), "p99"}}
}

// row is a titled group of panels.
type row struct {
	title  string
	panels []cog.Builder[dashboard.Panel]
}

func rows() []row {
	getNumber := `route="/get-number"`
	return []row{{"App", []cog.Builder[dashboard.Panel]{
		timeseriesPanel("Requests per second by code", units.RequestsPerSecond,
			"/get-number answers, all pods. 503: no number (MySQL unreachable, a statement past REQUEST_TIMEOUT, numbers exhausted); 499: the client left before its answer.",
			target{"sum by (code) (rate(" + selector("counter_http_requests_total", getNumber) + "[$__rate_interval]))", "{{code}}"}),
		// A code's series exists once a request had it: "or vector(0)" shows 0, not
		// "No data", before the first 5xx.
		timeseriesPanel("Error ratio (5xx)", units.PercentUnit,
			"Share of /get-number answers that were 5xx.",
			target{"(" + rate("counter_http_requests_total", getNumber, `code=~"5.."`) + " or vector(0)) / " + rate("counter_http_requests_total", getNumber), "5xx"}).
			Max(1),
		timeseriesPanel("Latency of /get-number", units.Seconds,
			"From the request's arrival to its answer, all pods.",
			percentiles("counter_http_request_duration_seconds", getNumber)...),
		statPanel("Ready app pods", units.Short,
			"Pods whose /readyz passes, so the Service routes to them.",
			target{"sum(" + selector("counter_ready") + ")", "ready"}),
	}}, {"Counter", []cog.Builder[dashboard.Panel]{
		statPanel("Numbers left", units.Short,
			"Numbers the counter can still hand out before "+maxNumber+" (2^63-1); to about a thousand: Prometheus's floats round numbers this large.",
			target{maxNumber + " - max(" + selector("counter_last_number") + ")", "left"}),
		statPanel("Last number", units.NoUnit,
			"The counter's value: the highest number allocated so far.",
			target{"max(" + selector("counter_last_number") + ")", "last"}).
			Decimals(0),
		timeseriesPanel("Numbers per second", units.CountsPerSecond,
			"Handed out to clients, and abandoned: committed but never answered (a gap, never reused).",
			target{rate("counter_numbers_handed_out_total"), "handed out"},
			target{rate("counter_numbers_abandoned_total"), "abandoned"}),
		timeseriesPanel("Batch size", units.Short,
			"Numbers allocated per database statement: concurrent requests share one statement.",
			target{rate("counter_batch_size_sum") + " / " + rate("counter_batch_size_count"), "average"},
			target{quantile(0.99, "counter_batch_size"), "p99"}),
	}}, {"MySQL", []cog.Builder[dashboard.Panel]{
		statPanel("MySQL up", units.NoUnit,
			"mysqld_exporter reaches MySQL.",
			target{"min(" + selector("mysql_up") + ")", "up"}).
			ColorMode(common.BigValueColorModeValue). // the mappings' colours
			Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
				Type: dashboard.MappingTypeValueToText,
				Options: map[string]dashboard.ValueMappingResult{
					"0": {Text: cog.ToPtr("down"), Color: cog.ToPtr("red")},
					"1": {Text: cog.ToPtr("up"), Color: cog.ToPtr("green")},
				},
			}}}),
		timeseriesPanel("Statement time", units.Seconds,
			"The app's increment statements: from asking the pool for a connection to the commit's reply.",
			percentiles("counter_db_statement_duration_seconds")...),
		timeseriesPanel("DB errors per second", units.CountsPerSecond,
			"Failed increment statements; their numbers may be lost (a gap, never reused).",
			target{rate("counter_db_errors_total"), "errors"}),
		timeseriesPanel("Commits per second", units.OpsPerSecond,
			"MySQL's COMMIT statements (Com_commit).",
			target{rate("mysql_global_status_commands_total", `command="commit"`), "commits"}),
		timeseriesPanel("Connections", units.Short,
			"Client connections against max_connections.",
			target{"sum(" + selector("mysql_global_status_threads_connected") + ")", "connected"},
			target{"max(" + selector("mysql_global_variables_max_connections") + ")", "max"}),
		timeseriesPanel("Volume use", units.PercentUnit,
			"Share of MySQL's volume "+mysqlClaim+" in use; grow it with mysqlStorageSize (docs/operating.md).",
			target{volume("used") + " / " + volume("capacity"), "used"}).
			Max(1),
		timeseriesPanel("Volume space", units.BytesIEC,
			"MySQL's volume "+mysqlClaim+": bytes used and its size.",
			target{volume("used"), "used"},
			target{volume("capacity"), "capacity"}),
	}}}
}

// volume is one of the kubelet's byte gauges of MySQL's volume: used or capacity.
func volume(stat string) string {
	return "max(" + selector("kubelet_volume_stats_"+stat+"_bytes", `persistentvolumeclaim="`+mysqlClaim+`"`) + ")"
}

// panelBuilder is what every panel kind's builder has and every panel sets.
type panelBuilder[P any] interface {
	Title(string) P
	Description(string) P
	Unit(string) P
	Datasource(common.DataSourceRef) P
	Span(uint32) P
	Height(uint32) P
	WithTarget(cog.Builder[variants.Dataquery]) P
}

// describe sets what all panels share: four to a line, the variable's data source.
func describe[P panelBuilder[P]](p P, title, unit, description string, targets []target) P {
	p = p.Title(title).Unit(unit).Description(description).Datasource(datasource()).Span(6).Height(8)
	for i, t := range targets {
		p = p.WithTarget(prometheus.NewDataqueryBuilder().
			RefId(string(rune('A' + i))).
			Datasource(datasource()).
			Expr(t.expr).
			LegendFormat(t.legend))
	}
	return p
}

// timeseriesPanel is a graph over time; every quantity here is zero or more. The SDK's
// defaults hide the legend and leave the tooltip's mode empty: the legend names the
// series (p50, p99, codes) and the tooltip shows them all.
func timeseriesPanel(title, unit, description string, targets ...target) *timeseries.PanelBuilder {
	return describe(timeseries.NewPanelBuilder(), title, unit, description, targets).
		Min(0).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderNone))
}

// statPanel is the last value, with its recent history behind it. Uncoloured: Grafana's
// default thresholds would paint anything above 80 red, such as the numbers left.
func statPanel(title, unit, description string, targets ...target) *stat.PanelBuilder {
	return describe(stat.NewPanelBuilder(), title, unit, description, targets).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		ColorMode(common.BigValueColorModeNone)
}
