package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
)

// module is stripped from package paths in what is printed.
const module = "github.com/counter-mysql/counter-mysql/"

// event is one line of `go test -json` (cmd/test2json's TestEvent; build events carry
// ImportPath instead of Package).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
	// FailedBuild is the ImportPath whose build-output explains a package's failure.
	FailedBuild string
}

// tier is a group of tests the summary reports on together. A test belongs to the first
// tier with a rule matching its package (and top-level test name, if the rule has one).
type tier struct {
	name  string
	rules []rule
}

type rule struct {
	pkg   string         // path below the module; a trailing "/..." matches the subtree
	tests *regexp.Regexp // nil: every test of the package
}

func (r rule) match(pkg, test string) bool {
	pkg = strings.TrimPrefix(pkg, module)
	if p, ok := strings.CutSuffix(r.pkg, "/..."); ok {
		if pkg != p && !strings.HasPrefix(pkg, p+"/") {
			return false
		}
	} else if pkg != r.pkg {
		return false
	}
	top, _, _ := strings.Cut(test, "/")
	return r.tests == nil || r.tests.MatchString(top)
}

// mysqlTier holds, besides app/mysqltest's own tests, every test that logs
// mysqltest.TierMarker (New, NewWith and Require do): the MySQL tests live among unit tests.
const mysqlTier = "real MySQL (mariadbd/mysqld)"

// tiers are the test tiers docs/testing.md lists.
var tiers = []tier{
	{mysqlTier, []rule{{"app/mysqltest", nil}}},
	{"app: HTTP, coalescer, config, SQLite, run()", []rule{{"app/...", nil}}},
	{"real Kubernetes API server", []rule{{"infra/e2e", nil}, {"infra/kubetest", nil}}},
	{"kube-score on the rendered objects", []rule{{"infra/kubescore", nil}}},
	{"promtool on the alerting rules", []rule{{"infra/alerts", regexp.MustCompile(`^TestPromtool`)}}},
	{"real Pulumi engine (CLI + provider)", []rule{{"infra/enginetest/...", nil}}},
	{"real node: kubelet, containerd, runc, real pods", []rule{{"infra/nodetest/...", nil}}},
	{"Docker image build", []rule{{"infra/image", regexp.MustCompile(`^TestBuildImage$`)}}},
	{"Pulumi program under mocks, tooling", []rule{{"infra/...", nil}, {"internal/...", nil}}},
}

func tierOf(pkg, test string) string {
	for _, t := range tiers {
		if slices.ContainsFunc(t.rules, func(r rule) bool { return r.match(pkg, test) }) {
			return t.name
		}
	}
	return "other"
}

// counts are one tier's results.
type counts struct {
	passed, skipped, failed int
	reasons                 []string // distinct skip reasons
	failures                []string // failed tests and packages
}

// summary follows the events of one or more `go test -json` runs and prints each package's
// result as it ends. Safe for concurrent use (the heartbeat reads it).
type summary struct {
	mu       sync.Mutex
	out      io.Writer
	tiers    map[string]*counts
	output   map[string][]string // package + "\x00" + test -> its output lines
	onServer map[string]bool     // package + "\x00" + top-level test -> it logged mysqltest.TierMarker
	running  map[string]time.Time
	failedIn map[string]int // package -> failed tests
	finished int
	last     time.Time // when something was last printed
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, tiers: map[string]*counts{}, output: map[string][]string{}, onServer: map[string]bool{}, running: map[string]time.Time{}, failedIn: map[string]int{}, last: time.Now()}
}

// read consumes a `go test -json` stream; lines that are not JSON (go's own errors) are
// printed as they are.
func (s *summary) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			s.mu.Lock()
			s.printf("%s\n", sc.Text())
			s.mu.Unlock()
			continue
		}
		s.add(e)
	}
	if err := sc.Err(); err != nil {
		s.mu.Lock()
		s.printf("testrun: reading go test's output: %v\n", err)
		s.mu.Unlock()
		_, _ = io.Copy(io.Discard, r) // go test must not block on a full pipe
	}
}

// printf prints with s.mu held.
func (s *summary) printf(format string, args ...any) {
	fmt.Fprintf(s.out, format, args...)
	s.last = time.Now()
}

func (s *summary) add(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pkg := cmp.Or(e.Package, e.ImportPath)
	key := pkg + "\x00" + e.Test
	switch e.Action {
	case "start":
		s.running[pkg] = time.Now()
	case "output", "build-output":
		s.output[key] = append(s.output[key], e.Output)
		if strings.Contains(e.Output, mysqltest.TierMarker) {
			s.onServer[topKey(pkg, e.Test)] = true
		}
	case "pass", "skip", "fail":
		if e.Test == "" {
			s.endPackage(e)
			return
		}
		name := tierOf(pkg, e.Test)
		if s.onServer[topKey(pkg, e.Test)] {
			name = mysqlTier
		}
		c := s.tier(name)
		switch e.Action {
		case "pass":
			c.passed++
		case "skip":
			c.skipped++
			if r := skipReason(s.output[key]); !slices.Contains(c.reasons, r) {
				c.reasons = append(c.reasons, r)
			}
		case "fail":
			c.failed++
			c.failures = append(c.failures, strings.TrimPrefix(pkg, module)+" "+e.Test)
			s.failedIn[pkg]++
			s.printf("--- FAIL %s %s\n%s", strings.TrimPrefix(pkg, module), e.Test, strings.Join(s.output[key], ""))
		}
		delete(s.output, key)
	}
}

// topKey identifies test's top-level test: a subtest that starts a server puts its
// parent, which ends after it, in the MySQL tier too.
func topKey(pkg, test string) string {
	top, _, _ := strings.Cut(test, "/")
	return pkg + "\x00" + top
}

// failed is the number of failures counted so far.
func (s *summary) failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.tiers {
		n += c.failed
	}
	return n
}

func (s *summary) tier(name string) *counts {
	if s.tiers[name] == nil {
		s.tiers[name] = &counts{}
	}
	return s.tiers[name]
}

// endPackage prints the package's line; a package that failed without a failed test (a
// build error, a panic in TestMain, a timeout) is counted as a failure of its tier.
func (s *summary) endPackage(e event) {
	delete(s.running, e.Package)
	s.finished++
	name := strings.TrimPrefix(e.Package, module)
	out := s.output[e.Package+"\x00"]
	delete(s.output, e.Package+"\x00")
	if len(out) > 0 && strings.Contains(out[len(out)-1], "[no test files]") {
		return
	}
	word := map[string]string{"pass": "ok  ", "skip": "skip", "fail": "FAIL"}[e.Action]
	s.printf("%s %-40s %6.1fs\n", word, name, e.Elapsed)
	if e.Action != "fail" {
		return
	}
	if s.failedIn[e.Package] == 0 {
		c := s.tier(tierOf(e.Package, ""))
		c.failed++
		c.failures = append(c.failures, name+" (package)")
		s.printf("%s%s", strings.Join(s.output[e.FailedBuild+"\x00"], ""), strings.Join(out, ""))
	}
}

// skipReason is what t.Skip said: the last message the test logged (t.Skip logs its
// arguments last), which begins with a file:line prefix and may span several lines.
var location = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP"):
		case location.MatchString(l):
			msg = []string{location.ReplaceAllString(t, "")}
		default:
			msg = append(msg, t)
		}
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " ")
}

// heartbeat says what is going on when nothing was printed for a while: which packages'
// tests are running and for how long, or that go is still compiling.
func (s *summary) heartbeat(started time.Time, usually map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) < heartbeatEvery {
		return
	}
	elapsed := time.Since(started).Round(time.Second)
	if len(s.running) == 0 {
		s.printf("... %v: compiling and linking test binaries (%d packages done)\n", elapsed, s.finished)
		return
	}
	var names []string
	for pkg, t0 := range s.running {
		name := strings.TrimPrefix(pkg, module)
		note := fmt.Sprintf("%s %v", name, time.Since(t0).Round(time.Second))
		if u := usually[name]; u != "" {
			note += ", usually " + u
		}
		names = append(names, note)
	}
	slices.Sort(names)
	s.printf("... %v: running %s (%d packages done; others may be compiling)\n", elapsed, strings.Join(names, "; "), s.finished)
}

// table prints the tiers that had tests, in docs/testing.md's order, and reports whether all passed.
func (s *summary) table(w io.Writer) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tier\tresult\tpassed\tskipped\tfailed")
	ok = true
	var notes []string
	for _, t := range append(slices.Clone(tiers), tier{name: "other"}) {
		c := s.tiers[t.name]
		if c == nil {
			continue
		}
		result := "ran"
		switch {
		case c.failed > 0:
			result, ok = "FAILED", false
			notes = append(notes, t.name+" failed: "+strings.Join(c.failures, ", "))
		case c.passed == 0:
			result = "skipped"
		case c.skipped > 0:
			result = "ran, some skipped"
		}
		for _, r := range c.reasons {
			notes = append(notes, t.name+" skipped: "+r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", t.name, result, c.passed, c.skipped, c.failed)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "  - "+n)
	}
	return ok
}
