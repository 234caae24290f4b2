package dashboard

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/app/server"
)

// promqlToken is one piece of a PromQL expression: a range or a string, a grouping
// clause after its aggregation's parentheses (its labels are no metrics), or a name with
// what follows it: "(" for a function, perhaps after a grouping clause ("sum by (le) ("),
// label matchers for a selector, nothing for a bare metric.
var promqlToken = regexp.MustCompile(`\[[^\]]*\]|"[^"]*"|\b(?:by|without)\s*\([^)]*\)|([a-zA-Z_:][a-zA-Z0-9_:]*)\s*((?:(?:by|without)\s*\([^)]*\)\s*)?\(|\{[^}]*\})?`)

// namespaceMatcher is the filter every selector needs.
var namespaceMatcher = regexp.MustCompile(`[{,]namespace="\$namespace"[,}]`)

// promqlKeywords are PromQL's binary operators and modifiers spelt as words: names that
// are no metrics.
var promqlKeywords = []string{"and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset"}

// selectors are the metric selectors of expr: name and label matchers ("" for none).
func selectors(expr string) map[string][]string {
	s := map[string][]string{}
	for _, m := range promqlToken.FindAllStringSubmatch(expr, -1) {
		if m[1] != "" && !strings.HasSuffix(m[2], "(") && !slices.Contains(promqlKeywords, m[1]) {
			s[m[1]] = append(s[m[1]], m[2])
		}
	}
	return s
}

// A query without the namespace filter would add up every stack in the cluster.
func TestQueriesFilterByNamespace(t *testing.T) {
	_, d := generated(t)
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			sel := selectors(q.Expr)
			if len(sel) == 0 {
				t.Errorf("%q: no metric found in %s", p.Title, q.Expr)
			}
			for name, matchers := range sel {
				for _, m := range matchers {
					if !namespaceMatcher.MatchString(m) {
						t.Errorf("%q: %s%s does not filter by namespace=\"$namespace\" in %s", p.Title, name, m, q.Expr)
					}
				}
			}
		}
	}
}

// The scanner finds selectors, and one without the namespace, so the test above can fail.
func TestSelectors(t *testing.T) {
	got := selectors(`histogram_quantile(0.99, sum by (le) (rate(a_bucket{namespace="$namespace",route="/x"}[$__rate_interval]))) / (max(b) by (c) or vector(0)) - 9223372036854775807`)
	want := map[string][]string{"a_bucket": {`{namespace="$namespace",route="/x"}`}, "b": {""}}
	if len(got) != len(want) || !slices.Equal(got["a_bucket"], want["a_bucket"]) || !slices.Equal(got["b"], want["b"]) {
		t.Fatalf("selectors = %q, want %q", got, want)
	}
	if namespaceMatcher.MatchString(`{kube_namespace="$namespace"}`) || namespaceMatcher.MatchString("") {
		t.Fatal("namespaceMatcher takes a selector without the filter")
	}
}

// appMetric is a name of the app's metrics: they all start counter_.
var appMetric = regexp.MustCompile(`\bcounter_[a-zA-Z0-9_]+`)

// Every counter_* name the dashboard queries is one the app exports: a renamed metric
// would otherwise leave a panel empty with no error.
func TestCounterMetricsAreTheApps(t *testing.T) {
	_, d := generated(t)
	exported := appMetrics(t)
	texts := []string{d.Templating.List[1].Query}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			texts = append(texts, q.Expr)
		}
	}
	used := 0
	for _, text := range texts {
		for _, name := range appMetric.FindAllString(text, -1) {
			used++
			if !exported[name] {
				t.Errorf("%s is not a metric the app exports (in %s)", name, text)
			}
		}
	}
	if used == 0 {
		t.Fatal("no counter_* metric in any query")
	}
}

// appMetrics are the series names the app's /metrics shows, after one /get-number so
// that the per-route metrics appear: a histogram's as its _bucket, _sum and _count.
func appMetrics(t *testing.T) map[string]bool {
	t.Helper()
	h := server.New(server.Deps{
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Counter:        oneCounter{},
		Metrics:        server.NewMetrics(),
		Ready:          func(context.Context) error { return nil },
		ShuttingDown:   func() bool { return false },
		RequestTimeout: time.Second,
	})
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	get("/get-number")
	names := map[string]bool{}
	for _, line := range strings.Split(get("/metrics"), "\n") {
		f := strings.Fields(line) // # TYPE name kind
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		if f[3] == "histogram" {
			names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
		}
	}
	return names
}

// oneCounter hands out 1: enough for a /get-number to succeed.
type oneCounter struct{}

func (oneCounter) Next(context.Context) (int64, error) { return 1, nil }
