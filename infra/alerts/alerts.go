// Package alerts holds the stack's Prometheus alerting rules as Go values, scoped to one
// stack (its namespace and scrape jobs, so that several stacks can share a Prometheus), and
// renders them two ways: as the spec of a Prometheus Operator PrometheusRule (RuleSpec) and
// as a rules file for Prometheus and promtool (RulesFile).
//
// For the Prometheus Operator, in a Pulumi program:
//
//	groups, err := alerts.Groups(alerts.StackArgs(namespace))
//	spec, err := alerts.RuleSpec(groups)
//	apiextensions.NewCustomResource(ctx, "alerts", &apiextensions.CustomResourceArgs{
//		ApiVersion: pulumi.String("monitoring.coreos.com/v1"), Kind: pulumi.String("PrometheusRule"),
//		Metadata: ..., OtherFields: kubernetes.UntypedArgs{"spec": spec},
//	})
//
// Each rule links its section of docs/alerts.md, the runbook. The rules are unit-tested
// by promtool (tools/ pins and builds it): testdata/ holds, for every alert, series that
// must fire it and series that must not.
package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// DefaultRunbookURL is the runbook the rules link when Args.RunbookURL is empty.
const DefaultRunbookURL = "https://github.com/counter-mysql/counter-mysql/blob/main/docs/alerts.md"

// Args says what the rules select.
type Args struct {
	// Namespace is the stack's namespace. The kubelet's volume metrics are selected by it,
	// and every alert carries it as a label, for routing.
	Namespace string
	// AppJob and MySQLJob are the `job` label of the app's metrics and of mysqld_exporter's;
	// MySQLJob "" means the stack runs no exporter, so the rules on its metrics are left out
	// (MySQLDown would fire forever on the absent series).
	// The Prometheus Operator names a PodMonitor's job "<namespace>/<PodMonitor name>",
	// which is unique per stack, so the app's and MySQL's series are selected by job alone.
	AppJob, MySQLJob string
	// DataClaim is MySQL's PersistentVolumeClaim, whose free space is watched.
	DataClaim string
	// RunbookURL is docs/alerts.md as the operators read it; each rule links
	// RunbookURL#<its section>. Empty: DefaultRunbookURL.
	RunbookURL string
}

// StackArgs are the Args for the stack in namespace as it is deployed: PodMonitors named
// counter-app and mysql, and the StatefulSet's claim data-mysql-0.
func StackArgs(namespace string) Args {
	return Args{
		Namespace: namespace,
		AppJob:    namespace + "/counter-app",
		MySQLJob:  namespace + "/mysql",
		DataClaim: "data-mysql-0",
	}
}

// Validate says what is wrong with a, naming the field and the fix.
func (a Args) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(a.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("alerts: Namespace %q is not a namespace name (%s): set the stack's namespace", a.Namespace, strings.Join(msgs, "; ")))
	}
	if a.AppJob == "" {
		errs = append(errs, fmt.Errorf("alerts: AppJob is empty: set the job label Prometheus gives the app's targets (with the Prometheus Operator, \"<namespace>/<PodMonitor name>\")"))
	}
	if a.AppJob != "" && a.AppJob == a.MySQLJob {
		errs = append(errs, fmt.Errorf("alerts: AppJob and MySQLJob are both %q: the app and mysqld_exporter are scraped by different jobs; set each to its own", a.AppJob))
	}
	if msgs := validation.IsDNS1123Subdomain(a.DataClaim); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("alerts: DataClaim %q is not a claim name (%s): set MySQL's PersistentVolumeClaim, e.g. data-mysql-0", a.DataClaim, strings.Join(msgs, "; ")))
	}
	if a.RunbookURL != "" {
		if u, err := url.Parse(a.RunbookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("alerts: RunbookURL %q is not an http(s) URL without a #fragment: set the address of docs/alerts.md (each rule adds #<its section>), or leave it empty for %s", a.RunbookURL, DefaultRunbookURL))
		}
	}
	return errors.Join(errs...)
}

// Group is a named list of rules that Prometheus evaluates together.
type Group struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is one alerting rule. The JSON names are those of Prometheus's rules files, which a
// PrometheusRule's spec shares.
type Rule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
	// For is how long Expr must hold before the alert fires; 0 fires on the first evaluation.
	For         model.Duration    `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Groups are the stack's rules for a, or the error of a.Validate.
func Groups(a Args) ([]Group, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.RunbookURL == "" {
		a.RunbookURL = DefaultRunbookURL
	}
	return []Group{
		{Name: "counter-app", Rules: a.rules(appRules(a))},
		{Name: "counter-mysql", Rules: a.rules(mysqlRules(a))},
	}, nil
}

// anchor is the fragment of an alert's section in docs/alerts.md, whose heading is the
// alert's name: GitHub lower-cases headings for their anchors.
func anchor(alert string) string { return strings.ToLower(alert) }

// RuleSpec is the spec of a PrometheusRule holding groups, as plain JSON values (maps,
// slices, strings), which a Pulumi apiextensions.CustomResource's untyped fields take.
func RuleSpec(groups []Group) (map[string]any, error) {
	b, err := json.Marshal(rulesFile{groups})
	if err != nil {
		return nil, fmt.Errorf("alerts: encoding the rules: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("alerts: decoding the rules: %w", err)
	}
	return spec, nil
}

// RulesFile is groups as a Prometheus rules file (`groups:`), as `promtool check rules`
// and Prometheus's rule_files read it.
func RulesFile(groups []Group) ([]byte, error) {
	b, err := yaml.Marshal(rulesFile{groups})
	if err != nil {
		return nil, fmt.Errorf("alerts: encoding the rules: %w", err)
	}
	return b, nil
}

// rulesFile is the document both formats share.
type rulesFile struct {
	Groups []Group `json:"groups"`
}

// selector is metric{matchers...} in PromQL.
func selector(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(matchers, ",") + "}"
}

// eq is the matcher label="value", the value quoted as a Go string, which is PromQL's
// syntax too: a value may hold any character.
func eq(label, value string) string { return label + "=" + strconv.Quote(value) }
