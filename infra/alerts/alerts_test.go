package alerts

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// testArgs are the Args testdata/ is written for.
var testArgs = StackArgs("counter")

func mustGroups(t *testing.T, a Args) []Group {
	t.Helper()
	groups, err := Groups(a)
	if err != nil {
		t.Fatal(err)
	}
	return groups
}

func allRules(groups []Group) []Rule {
	var rules []Rule
	for _, g := range groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestEveryRuleIsComplete: what Alertmanager routes on and what the operator reads.
func TestEveryRuleIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range allRules(mustGroups(t, testArgs)) {
		if seen[r.Alert] {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
		}
		if ns := r.Labels["namespace"]; ns != testArgs.Namespace {
			t.Errorf("%s: namespace label %q, want %q", r.Alert, ns, testArgs.Namespace)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		if want := DefaultRunbookURL + "#" + anchor(r.Alert); r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
	}
}

// TestRunbookHasEverySection: each runbook_url's anchor is a heading of docs/alerts.md,
// and every second-level heading there is an alert's (none left behind by a rename).
func TestRunbookHasEverySection(t *testing.T) {
	f, err := os.Open("../../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string]bool{} // GitHub anchors of the ## headings
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "## "); ok {
			sections[githubAnchor(h)] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, r := range allRules(mustGroups(t, testArgs)) {
		alerts[anchor(r.Alert)] = true
		if _, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#"); !sections[anchor] {
			t.Errorf("%s: docs/alerts.md has no heading with anchor #%s: add a section `## %s`", r.Alert, anchor, r.Alert)
		}
	}
	for s := range sections {
		if !alerts[s] {
			t.Errorf("docs/alerts.md: section #%s is no alert's: rename or remove it", s)
		}
	}
}

// githubAnchor is the anchor GitHub gives a heading: lower case, punctuation dropped,
// spaces as hyphens.
func githubAnchor(heading string) string {
	h := strings.ToLower(strings.TrimSpace(heading))
	h = regexp.MustCompile(`[^\p{L}\p{N} _-]`).ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

func TestArgsValidation(t *testing.T) {
	for _, tc := range []struct {
		change func(*Args)
		want   string // in the error
	}{
		{func(a *Args) { a.Namespace = "" }, "Namespace"},
		{func(a *Args) { a.Namespace = "Counter_1" }, "Namespace"},
		{func(a *Args) { a.AppJob = "" }, "AppJob"},
		{func(a *Args) { a.MySQLJob = a.AppJob }, "AppJob and MySQLJob"},
		{func(a *Args) { a.DataClaim = "" }, "DataClaim"},
		{func(a *Args) { a.DataClaim = "data mysql" }, "DataClaim"},
		{func(a *Args) { a.RunbookURL = "docs/alerts.md" }, "RunbookURL"},
		{func(a *Args) { a.RunbookURL = "ftp://example.com/alerts.md" }, "RunbookURL"},
		{func(a *Args) { a.RunbookURL = "https://example.com/alerts.md#top" }, "RunbookURL"},
	} {
		a := testArgs
		tc.change(&a)
		_, err := Groups(a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Groups(%+v): error %v, want one naming %s", a, err, tc.want)
		}
	}

	a := testArgs
	a.RunbookURL = "https://wiki.example.com/counter/alerts"
	for _, r := range allRules(mustGroups(t, a)) {
		if !strings.HasPrefix(r.Annotations["runbook_url"], a.RunbookURL+"#") {
			t.Errorf("%s: runbook_url %q is not under RunbookURL %q", r.Alert, r.Annotations["runbook_url"], a.RunbookURL)
		}
	}
}

// TestRuleSpecMatchesRulesFile: the PrometheusRule's spec and the rules file promtool
// checks are the same document, with `for` as Prometheus writes durations.
func TestRuleSpecMatchesRulesFile(t *testing.T) {
	groups := mustGroups(t, testArgs)
	spec, err := RuleSpec(groups)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RulesFile(groups)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec, file) {
		t.Errorf("RuleSpec and RulesFile differ:\nspec: %v\nfile: %v", spec, file)
	}
	first := spec["groups"].([]any)[0].(map[string]any)["rules"].([]any)[0].(map[string]any)
	if first["for"] != "10m" {
		t.Errorf("for = %#v, want \"10m\"", first["for"])
	}
}

// Without an exporter (MySQLJob ""), nothing selects its metrics, so no alert fires on
// their absence; the volume and app alerts stay.
func TestNoExporterNoExporterRules(t *testing.T) {
	a := testArgs
	a.MySQLJob = ""
	var alerts []string
	for _, r := range allRules(mustGroups(t, a)) {
		if strings.Contains(r.Expr, "mysql_") {
			t.Errorf("%s selects the exporter's metrics: %s", r.Alert, r.Expr)
		}
		alerts = append(alerts, r.Alert)
	}
	for _, want := range []string{"MySQLVolumeNearlyFull", "MySQLVolumeFillingUp", "CounterNoReadyPod"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("without an exporter the rules lack %s: %v", want, alerts)
		}
	}
}
