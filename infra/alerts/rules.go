package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The route whose answers matter: the one that hands out numbers.
const route = "/get-number"

// Severities: critical pages (clients are failing or about to), warning can wait for the
// working day.
const (
	critical = "critical"
	warning  = "warning"
)

// appRules watch the counter app: its answers, its readiness and the numbers it hands out.
func appRules(a Args) []def {
	requests := func(matchers ...string) string {
		return fmt.Sprintf("sum(rate(%s[5m]))", a.app("counter_http_requests_total", append([]string{eq("route", route)}, matchers...)...))
	}
	ready := a.app("counter_ready")
	last := a.app("counter_last_number")
	return []def{{
		Alert: "CounterHighErrorRate",
		// While MySQL is away the app answers 503 (Retry-After: 1): a restart of mysql-0
		// (minutes) is expected to stay below 10 minutes of the 5-minute ratio over 5%.
		Expr:     requests(`code=~"5.."`) + " / " + requests() + " > 0.05",
		For:      minutes(10),
		Severity: critical,
		Summary:  "{{ $value | humanizePercentage }} of " + route + " requests failed (5xx) in the last 5 minutes",
		Describe: "The counter app in namespace " + a.Namespace + " has answered more than 5% of " + route + " requests with a 5xx for 10 minutes: clients get no numbers. 503s mean MySQL is unreachable or a statement outlasted REQUEST_TIMEOUT; 500s are panics. Check MySQLDown, the app's logs and mysql-0.",
	}, {
		Alert: "CounterHighLatency",
		Expr: fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(%s[5m]))) > 0.5",
			a.app("counter_http_request_duration_seconds_bucket", eq("route", route))),
		For:      minutes(10),
		Severity: warning,
		Summary:  "99th percentile of " + route + " latency is {{ $value | humanizeDuration }}",
		Describe: "For 10 minutes, 1% of " + route + " requests in namespace " + a.Namespace + " took longer than 0.5 s. Each number is one MySQL statement commit (shared by a batch): check the commit time (counter_db_statement_duration_seconds), MySQL's load and its volume's I/O, and the app pods' CPU throttling.",
	}, {
		Alert: "CounterNoReadyPod",
		// absent: no app pod is scraped at all (none running, all crashing, or the scrape
		// broken), which is as bad for clients as none being ready.
		Expr:     fmt.Sprintf("max(%s) < 1 or absent(%s)", ready, ready),
		For:      minutes(5),
		Severity: critical,
		Summary:  "No counter app pod in namespace " + a.Namespace + " is ready",
		Describe: "For 5 minutes no app pod's readiness check has passed, or no app pod has been scraped at all: the Service has no endpoint and " + route + " is down. Pods run but unready: the app cannot reach MySQL (see MySQLDown) or its schema set-up fails (its logs say why). No pods or no metrics: check the Deployment's events, and the scrape (up{job=\"" + a.AppJob + "\"}).",
	}, {
		Alert: "CounterNearlyExhausted",
		// The app hands out numbers up to 2^63-1 (the largest a JSON reader takes as an
		// integer), then 503s. Prometheus's float64 rounds it to 2^63, close enough for 90%.
		Expr:     fmt.Sprintf("max(%s) > 0.9 * 9223372036854775807", last),
		Severity: warning,
		Summary:  "The counter is at {{ $value | printf \"%.0f\" }}, past 90% of its maximum 2^63-1",
		Describe: "The highest number handed out in namespace " + a.Namespace + " is past 90% of 2^63-1, the last number the app hands out (then it answers 503). At any real request rate this is centuries away, so a value this high was most likely written by hand or by a restore: find out how, before deciding anything.",
	}, {
		Alert:    "CounterWentBackwards",
		Expr:     wentBackwards(last),
		Severity: critical,
		Summary:  "Pod {{ $labels.pod }} handed out {{ $value | printf \"%.0f\" }}, below a number handed out earlier",
		Describe: "A number handed out in namespace " + a.Namespace + " is lower than one handed out before (within the last day): numbers are being issued again, as after a restore of MySQL from an older backup or a change of the counter row by hand. Stop the traffic (scale the app to 0) before more duplicates go out, then compare the counter row with the highest number handed out.",
	}}
}

// wentBackwards is the expression of CounterWentBackwards on counter_last_number (last),
// each app process's highest number so far (0 until its first).
//
// Numbers come from one row in MySQL, so a number a process takes is above every number
// anyone took before. Comparing the latest values of the pods with the highest seen over a
// day would fire wrongly: a pod that has not taken a number for a while (little traffic)
// shows an old, lower value once the pod holding the highest value is gone (a restart or
// scale-down starts a new series). Instead only a value that appeared in the last 5
// minutes (above all earlier values of its series, or the first of a new series) is
// compared, with the highest value of any series until 10 minutes ago: that value was seen,
// so taken, before the new one was. The 5 minutes between them are margin for scrape
// timing, so values taken in the same scrape interval by two pods are never compared.
// Comparing each series' values with its own earlier values, not its own latest, also
// keeps a series that went unscraped for a while (its earlier values are still there) from
// looking new.
//
// The second branch fires when one series goes down (ignoring the 0 of a restarted
// container), should the gauge report the latest number rather than the highest.
func wentBackwards(last string) string {
	earlier := func(offset string) string { return fmt.Sprintf("max_over_time(%s[1d]%s)", last, offset) }
	return strings.Join([]string{
		"(",
		fmt.Sprintf("  (%s > 0 > %s)", last, earlier(" offset 5m")),
		"  or",
		fmt.Sprintf("  (%s > 0 unless %s)", last, earlier(" offset 5m")),
		fmt.Sprintf(") < on() group_left() max(%s)", earlier(" offset 10m")),
		"or",
		fmt.Sprintf("%s > 0 < %s", last, earlier("")),
	}, "\n")
}

// mysqlRules watch MySQL through mysqld_exporter, when there is one, and its volume
// through the kubelet.
func mysqlRules(a Args) []def {
	if a.MySQLJob == "" {
		return volumeRules(a)
	}
	up := a.mysql("mysql_up")
	return append([]def{{
		Alert: "MySQLDown",
		// absent: the exporter itself is not scraped (mysql-0 gone, or the scrape broken).
		Expr:     fmt.Sprintf("%s == 0 or absent(%s)", up, up),
		For:      minutes(5),
		Severity: critical,
		Summary:  "MySQL in namespace " + a.Namespace + " is down or not scraped",
		Describe: "For 5 minutes mysqld_exporter has not reached MySQL (mysql_up 0), or has not been scraped at all: the app answers 503 and hands out no numbers. Check pod mysql-0 (events, restarts, logs), its volume claim " + a.DataClaim + ", and the exporter's logs.",
	}, {
		Alert: "MySQLConnectionsNearMax",
		Expr: fmt.Sprintf("%s / %s > 0.8",
			a.mysql("mysql_global_status_threads_connected"), a.mysql("mysql_global_variables_max_connections")),
		For:      minutes(5),
		Severity: warning,
		Summary:  "MySQL uses {{ $value | humanizePercentage }} of max_connections",
		Describe: "For 5 minutes MySQL in namespace " + a.Namespace + " has had more than 80% of max_connections open. At the limit new connections fail, the app's among them (503). The app's pools are budgeted against max_connections: check the app's replica count and pool size, and who else is connected (SHOW PROCESSLIST).",
	}}, volumeRules(a)...)
}

// volumeRules watch MySQL's volume through the kubelet's metrics.
func volumeRules(a Args) []def {
	volume := func(metric string) string {
		return selector(metric, eq("namespace", a.Namespace), eq("persistentvolumeclaim", a.DataClaim))
	}
	return []def{{
		Alert: "MySQLVolumeNearlyFull",
		Expr: fmt.Sprintf("min by (namespace, persistentvolumeclaim) (%s / %s) < 0.1",
			volume("kubelet_volume_stats_available_bytes"), volume("kubelet_volume_stats_capacity_bytes")),
		For:      minutes(5),
		Severity: critical,
		Summary:  "MySQL's volume " + a.DataClaim + " has {{ $value | humanizePercentage }} free",
		Describe: "Less than 10% of the volume " + a.DataClaim + " in namespace " + a.Namespace + " is free. When it is full MySQL stops committing and the counter stops. Grow it now (mysqlStorageSize, then pulumi up): EBS allows one resize per volume every 6 hours. Then find what grows (binary logs, the InnoDB files).",
	}, {
		Alert: "MySQLVolumeFillingUp",
		Expr: fmt.Sprintf("min by (namespace, persistentvolumeclaim) (predict_linear(%s[6h], 24 * 3600)) < 0",
			volume("kubelet_volume_stats_available_bytes")),
		// An hour: a burst of binary logs or a large temporary table bends a short trend.
		For:      minutes(60),
		Severity: warning,
		Summary:  "MySQL's volume " + a.DataClaim + " fills within a day at the last 6 hours' rate",
		Describe: "At the rate its free space fell over the last 6 hours, the volume " + a.DataClaim + " in namespace " + a.Namespace + " is full within 24 hours. Find what grows (binary logs, the InnoDB files) and grow the volume (mysqlStorageSize) before MySQLVolumeNearlyFull.",
	}}
}

// app and mysql select metric from the app's and from mysqld_exporter's job.
func (a Args) app(metric string, matchers ...string) string {
	return selector(metric, append([]string{eq("job", a.AppJob)}, matchers...)...)
}

func (a Args) mysql(metric string, matchers ...string) string {
	return selector(metric, append([]string{eq("job", a.MySQLJob)}, matchers...)...)
}

// def is a rule as written above: the annotations every rule needs are fields, so none is
// forgotten; Args.rules adds the namespace label and the runbook link.
type def struct {
	Alert, Expr       string
	For               model.Duration
	Severity          string
	Summary, Describe string
}

func minutes(n int) model.Duration { return model.Duration(time.Duration(n) * time.Minute) }

// rules are defs as Rules, labelled with the namespace, for routing, and linking their
// runbook sections.
func (a Args) rules(defs []def) []Rule {
	rules := make([]Rule, len(defs))
	for i, d := range defs {
		rules[i] = Rule{
			Alert: d.Alert, Expr: d.Expr, For: d.For,
			Labels: map[string]string{"severity": d.Severity, "namespace": a.Namespace},
			Annotations: map[string]string{
				"summary":     d.Summary,
				"description": d.Describe,
				"runbook_url": a.RunbookURL + "#" + anchor(d.Alert),
			},
		}
	}
	return rules
}
