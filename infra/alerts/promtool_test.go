package alerts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// promtoolVersion must match tools/go.mod and tools/build.sh (Prometheus 3.16.0).
const promtoolVersion = "v0.316.0"

// requirePromtool returns $PROMTOOL_BIN, else the binary tools/build.sh builds, or skips
// (fails with PROMTOOL_REQUIRE=1) when it is missing or another version.
func requirePromtool(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PROMTOOL_BIN")
	if bin == "" {
		bin = filepath.Join(kubetest.CacheDir("promtool-"+promtoolVersion), "promtool")
	}
	return kubetest.RequireTool(t, kubetest.Tool{
		Bin: bin, VersionArgs: []string{"--version"}, Want: "version " + promtoolVersion + " ",
		Require: "PROMTOOL_REQUIRE", Build: "`make promtool` (minutes cold, cached after)",
	})
}

// TestPromtool checks the rendered rules with `promtool check rules` and runs every unit
// test file of testdata/ on them with `promtool test rules`.
func TestPromtool(t *testing.T) {
	bin := requirePromtool(t)
	groups := mustGroups(t, testArgs)
	dir := writeRules(t, groups)
	t.Run("check rules", func(t *testing.T) {
		if out, err := exec.Command(bin, "check", "rules", "--lint-fatal", filepath.Join(dir, "rules.yaml")).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	})
	for _, file := range testFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if out, err := promtoolTest(bin, dir, groups, file); err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", file, err, out)
			}
		})
	}
}

// TestPromtoolCatchesOtherStacks: with any rule's stack scoping removed (its job or
// namespace matcher matching every value), its tests in testdata/ fail, so every alert is
// tested with another stack's series beside the stack's own.
func TestPromtoolCatchesOtherStacks(t *testing.T) {
	bin := requirePromtool(t)
	groups := mustGroups(t, testArgs)
	unscope := strings.NewReplacer(
		eq("job", testArgs.AppJob), `job=~".+"`,
		eq("job", testArgs.MySQLJob), `job=~".+"`,
		eq("namespace", testArgs.Namespace), `namespace=~".+"`)
	filesOf := map[string][]string{} // alert -> the test files that test it
	for _, file := range testFiles(t) {
		for _, name := range readUnitTests(t, file).alerts() {
			filesOf[name] = append(filesOf[name], file)
		}
	}
	for _, g := range groups {
		for i, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				g.Rules[i].Expr = unscope.Replace(r.Expr)
				defer func() { g.Rules[i].Expr = r.Expr }()
				if g.Rules[i].Expr == r.Expr {
					t.Fatalf("%s selects nothing by the stack's job or namespace:\n%s", r.Alert, r.Expr)
				}
				dir := writeRules(t, groups)
				for _, file := range filesOf[r.Alert] {
					out, err := promtoolTest(bin, dir, groups, file)
					// promtool names the alert of a failed expectation, and the rule of a failed evaluation.
					if err != nil && (strings.Contains(string(out), "alertname: "+r.Alert+",") || strings.Contains(string(out), "rule: "+r.Alert+",")) {
						t.Logf("%s fails, as it should", filepath.Base(file))
						return
					}
				}
				t.Errorf("%s matching every stack still passes its tests: add another stack's series that would fire it to testdata/", r.Alert)
			})
		}
	}
}

// TestEveryAlertFiresAndStaysSilent: each alert is expected to fire somewhere in testdata
// and expected silent somewhere else, and testdata names no alert that does not exist (its
// tests would pass whatever the rules do).
func TestEveryAlertFiresAndStaysSilent(t *testing.T) {
	fires, silent, tested := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, file := range testFiles(t) {
		for _, test := range readUnitTests(t, file).Tests {
			for _, c := range test.AlertRuleTest {
				tested[c.Alertname] = true
				if len(c.ExpAlerts) > 0 {
					fires[c.Alertname] = true
				} else {
					silent[c.Alertname] = true
				}
			}
		}
	}
	defined := map[string]bool{}
	for _, r := range allRules(mustGroups(t, testArgs)) {
		defined[r.Alert] = true
		if !fires[r.Alert] {
			t.Errorf("%s: no test in testdata/ expects it to fire", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no test in testdata/ expects it silent", r.Alert)
		}
	}
	for name := range tested {
		if !defined[name] {
			t.Errorf("testdata/ tests alert %s, which no rule defines", name)
		}
	}
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no unit test files in testdata/ (%v)", err)
	}
	return files
}

// writeRules renders groups into rules.yaml, which testdata's files name, in a new
// directory.
func writeRules(t *testing.T, groups []Group) string {
	t.Helper()
	b, err := RulesFile(groups)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// promtoolTest runs the unit tests of file on dir/rules.yaml. promtool compares every
// annotation; testdata spells out those that depend on the series (the templated
// summaries), and the rules' fixed ones (description, runbook_url) are added here, so
// that they are written once.
func promtoolTest(bin, dir string, groups []Group, file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	fixed := map[string]map[string]string{} // alert -> its annotations without a template
	for _, r := range allRules(groups) {
		fixed[r.Alert] = map[string]string{}
		for k, v := range r.Annotations {
			if !strings.Contains(v, "{{") {
				fixed[r.Alert][k] = v
			}
		}
	}
	tests, _ := doc["tests"].([]any)
	for _, test := range tests {
		cases, _ := test.(map[string]any)["alert_rule_test"].([]any)
		for _, c := range cases {
			c := c.(map[string]any)
			name, _ := c["alertname"].(string)
			exp, _ := c["exp_alerts"].([]any)
			for _, e := range exp {
				e := e.(map[string]any)
				ann, _ := e["exp_annotations"].(map[string]any)
				if ann == nil {
					ann = map[string]any{}
					e["exp_annotations"] = ann
				}
				for k, v := range fixed[name] {
					if _, ok := ann[k]; !ok {
						ann[k] = v
					}
				}
			}
		}
	}
	if b, err = yaml.Marshal(doc); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return exec.Command(bin, "test", "rules", path).CombinedOutput()
}

// unitTests is what the tests here read of a promtool test file.
type unitTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// alerts are the alerts u tests, once each.
func (u unitTests) alerts() []string {
	var names []string
	for _, test := range u.Tests {
		for _, c := range test.AlertRuleTest {
			if !slices.Contains(names, c.Alertname) {
				names = append(names, c.Alertname)
			}
		}
	}
	return names
}

func readUnitTests(t *testing.T, file string) unitTests {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var u unitTests
	if err := yaml.Unmarshal(b, &u); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return u
}
