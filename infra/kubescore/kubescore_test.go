package kubescore

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// version must match tools/go.mod and tools/build.sh.
const version = "v1.20.0"

//go:embed accepted.txt
var acceptedList string

// variants are the stack configurations scored: the default (EKS) and the existing-cluster
// one, whose objects differ (no StorageClass, the class name, the image source).
var variants = map[string]map[string]string{
	"default (EKS)":    nil,
	"existing cluster": {"mode": "existing"},
}

// binary is $KUBESCORE_BIN, else where tools/build.sh puts it.
func binary() string {
	if p := os.Getenv("KUBESCORE_BIN"); p != "" {
		return p
	}
	return filepath.Join(kubetest.CacheDir("kube-score-"+version), "kube-score")
}

// TestRenderedObjectsScore runs kube-score on every object of each variant and compares
// what it finds with accepted.txt, both ways: a new finding fails, and so does an
// exception nothing triggers any more (it would hide the next real finding of that kind).
func TestRenderedObjectsScore(t *testing.T) {
	bin := requireBinary(t)
	accepted, err := parseAccepted(acceptedList)
	if err != nil {
		t.Fatal(err)
	}
	found := map[finding][]string{} // finding -> the variants and summaries that produced it
	for _, name := range slices.Sorted(maps.Keys(variants)) {
		manifest := filepath.Join(t.TempDir(), "objects.yaml")
		if err := os.WriteFile(manifest, renderYAML(t, variants[name]), 0o600); err != nil {
			t.Fatal(err)
		}
		results, err := score(bin, manifest)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for f, summary := range results {
			found[f] = append(found[f], name+": "+summary)
		}
	}
	for _, problem := range compare(found, accepted) {
		t.Error(problem)
	}
}

// requireBinary returns the kube-score binary, or skips (fails with KUBESCORE_REQUIRE=1)
// when it is missing or another version.
func requireBinary(t *testing.T) string {
	t.Helper()
	return kubetest.RequireTool(t, kubetest.Tool{
		Bin: binary(), VersionArgs: []string{"version"}, Want: "version: " + version + ",",
		Require: "KUBESCORE_REQUIRE", Build: "`make kube-score` (about a minute, cached after)",
	})
}

// renderYAML is every Kubernetes object the stack creates with overrides, as one
// multi-document YAML file, on a cluster that serves the Prometheus Operator's API, so
// the monitoring objects are scored too.
func renderYAML(t *testing.T, overrides map[string]string) []byte {
	t.Helper()
	rec, err := stacktest.RunServingMonitoring(stacktest.Config(overrides), true)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, obj := range rec.MustObjects(t) {
		b, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, "---\n"...), b...)
	}
	return out
}

// finding is one failed kube-score check on one object, per container ("-" when the
// check is about the whole object), as accepted.txt names it.
type finding struct {
	Object, Check, Container string
}

func (f finding) String() string { return f.Object + " " + f.Check + " " + f.Container }

// report is the part of kube-score's JSON output (format v2) used here.
type report []struct {
	TypeMeta struct {
		Kind string `json:"kind"`
	} `json:"type_meta"`
	ObjectMeta struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"object_meta"`
	Checks []struct {
		Check struct {
			ID string `json:"id"`
		} `json:"check"`
		Grade    int  `json:"grade"`
		Skipped  bool `json:"skipped"`
		Comments []struct {
			Path    string `json:"path"`
			Summary string `json:"summary"`
		} `json:"comments"`
	} `json:"checks"`
}

// gradeOK is kube-score's grade for a passed check (scorecard.GradeAllOK).
const gradeOK = 10

// score runs kube-score on manifest and returns its findings with their summaries. The
// Kubernetes version is the one the objects are also applied to (infra/kubetest).
func score(bin, manifest string) (map[finding]string, error) {
	minor := kubetest.Version[:strings.LastIndex(kubetest.Version, ".")]
	cmd := exec.Command(bin, "score", "--kubernetes-version", minor, "--output-format", "json", manifest)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// kube-score exits 1 when it finds something critical: a JSON report is then a result,
	// anything else an error.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("kube-score: %v: %s", err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("kube-score output is not its JSON report (%v): %s%s", err, out, stderr.String())
	}
	findings := map[finding]string{}
	for _, obj := range r {
		name := obj.TypeMeta.Kind + "/" + obj.ObjectMeta.Namespace + "/" + obj.ObjectMeta.Name
		for _, c := range obj.Checks {
			if c.Skipped || c.Grade >= gradeOK {
				continue
			}
			if len(c.Comments) == 0 {
				findings[finding{name, c.Check.ID, "-"}] = fmt.Sprintf("grade %d", c.Grade)
			}
			for _, com := range c.Comments {
				f := finding{name, c.Check.ID, cmp.Or(com.Path, "-")}
				findings[f] = strings.TrimPrefix(findings[f]+"; "+com.Summary, "; ")
			}
		}
	}
	return findings, nil
}

// parseAccepted reads accepted.txt: "<object> <check> <container>: <reason>" lines, with
// blank lines and # comments ignored. A line without a reason is an error.
func parseAccepted(text string) (map[finding]string, error) {
	accepted := map[finding]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, _ := strings.Cut(line, ":")
		fields := strings.Fields(key)
		if len(fields) != 3 || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("accepted.txt:%d: want \"<kind>/<namespace>/<name> <check> <container or ->: <reason>\", got %q", i+1, line)
		}
		f := finding{fields[0], fields[1], fields[2]}
		if _, dup := accepted[f]; dup {
			return nil, fmt.Errorf("accepted.txt:%d: %s is listed twice", i+1, f)
		}
		accepted[f] = strings.TrimSpace(reason)
	}
	return accepted, nil
}

// compare lists every finding that is not accepted and every accepted one not found.
func compare(found map[finding][]string, accepted map[finding]string) []string {
	var problems []string
	for f, where := range found {
		if _, ok := accepted[f]; !ok {
			problems = append(problems, fmt.Sprintf("new kube-score finding %s (%s): fix it, or add it to infra/kubescore/accepted.txt with the reason", f, strings.Join(where, "; ")))
		}
	}
	for f := range accepted {
		if _, ok := found[f]; !ok {
			problems = append(problems, fmt.Sprintf("accepted.txt lists %s, which kube-score no longer finds: remove the line", f))
		}
	}
	slices.Sort(problems)
	return problems
}

func TestCompare(t *testing.T) {
	accepted, err := parseAccepted("# comment\n\nStatefulSet/ns/db check-a db: why\nDeployment/ns/app check-b -: why not\n")
	if err != nil {
		t.Fatal(err)
	}
	found := map[finding][]string{
		{"StatefulSet/ns/db", "check-a", "db"}:  {"v1: low uid"},
		{"Deployment/ns/app", "check-c", "app"}: {"v1: new"},
	}
	got := compare(found, accepted)
	want := []string{
		"accepted.txt lists Deployment/ns/app check-b -, which kube-score no longer finds: remove the line",
		"new kube-score finding Deployment/ns/app check-c app (v1: new): fix it, or add it to infra/kubescore/accepted.txt with the reason",
	}
	if !slices.Equal(got, want) {
		t.Errorf("compare:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"StatefulSet/ns/db check-a db", "StatefulSet/ns/db check-a: why", "a b c: x\na b c: y"} {
		if _, err := parseAccepted(bad); err == nil {
			t.Errorf("parseAccepted(%q) accepted it", bad)
		}
	}
}
