package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
)

const (
	componentType  = "counter-mysql:image:Image"
	repositoryType = "aws:ecr/repository:Repository"
	lifecycleType  = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
	dockerType     = "docker:index/image:Image"
	randomType     = "random:index/randomId:RandomId"
)

// recorded is what the program registered and called.
type recorded struct{ *pulumitest.Recorded }

// registered returns the registered resource of a type; it fails unless there is exactly one.
func (r recorded) registered(t *testing.T, typeToken string) resource.PropertyMap {
	t.Helper()
	found := r.ByType(typeToken)
	if len(found) != 1 {
		t.Fatalf("%d resources of type %s registered, want 1", len(found), typeToken)
	}
	return found[0].Inputs
}

func (r recorded) types() []string {
	var types []string
	for _, res := range r.Resources {
		types = append(types, res.Type)
	}
	slices.Sort(types)
	return types
}

// result is what the component hands the rest of the program.
type result struct {
	ref           string
	repositoryURL *string
}

func deploy(t *testing.T, args Args) (recorded, result, error) {
	t.Helper()
	var res result
	rec, err := pulumitest.Run(func(ctx *pulumi.Context) error {
		img, err := New(ctx, "counter", args)
		if err != nil {
			return err
		}
		ref, err := internals.UnsafeAwaitOutput(ctx.Context(), img.Ref)
		if err != nil {
			return err
		}
		url, err := internals.UnsafeAwaitOutput(ctx.Context(), img.RepositoryURL)
		if err != nil {
			return err
		}
		res.ref, _ = ref.Value.(string)
		res.repositoryURL, _ = url.Value.(*string)
		return nil
	}, nil)
	return recorded{rec}, res, err
}

// sourceTree lays out a minimal repository in a temporary directory and makes it the
// working directory, as Pulumi's is the project root.
func sourceTree(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore":  "*\n!app/\n!go.mod\n!go.sum\n",
		"app/Dockerfile": "FROM scratch\nCOPY app/main.go /\n",
		"app/main.go":    "package main\n\nfunc main() {}\n",
		"go.mod":         "module example.com/counter\n",
		"go.sum":         "",
		"infra/main.go":  "package main\n",
	})
	t.Chdir(dir)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		full := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfiguredImageIsUsedAsIs(t *testing.T) {
	const configured = "ghcr.io/example/counter@sha256:feedface"
	// No source tree: a configured image needs none.
	m, res, err := deploy(t, Args{Configured: configured})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.types(); !slices.Equal(got, []string{componentType}) {
		t.Errorf("registered %v, want only the component", got)
	}
	if len(m.Calls) != 0 {
		t.Errorf("made calls %v, want none", m.Calls)
	}
	if res.ref != configured {
		t.Errorf("Ref = %q, want %q", res.ref, configured)
	}
	if res.repositoryURL != nil {
		t.Errorf("RepositoryURL = %q, want nil", *res.repositoryURL)
	}
}

func TestBuildFromSourceIntoECR(t *testing.T) {
	sourceTree(t)
	// Pulumi.yaml says main: infra/, so the program and its providers run in infra/.
	t.Chdir("infra")
	m, res, err := deploy(t, Args{RepoRoot: "..", InstanceType: "m7g.large"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{componentType, dockerType, lifecycleType, randomType, repositoryType}
	slices.Sort(want)
	if got := m.types(); !slices.Equal(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	repoURL := pulumitest.RegistryHost + "/counter" + pulumitest.NameSuffix

	repo := m.registered(t, repositoryType)
	for key, want := range map[string]resource.PropertyValue{
		"imageTagMutability": resource.NewProperty("IMMUTABLE"),
		"forceDelete":        resource.NewProperty(true),
		"imageScanningConfiguration": resource.NewProperty(resource.PropertyMap{
			"scanOnPush": resource.NewProperty(true),
		}),
	} {
		if got := repo[resource.PropertyKey(key)]; !got.DeepEquals(want) {
			t.Errorf("repository %s = %v, want %v", key, got, want)
		}
	}

	lifecycle := m.registered(t, lifecycleType)
	if got := lifecycle["repository"].StringValue(); got != "counter"+pulumitest.NameSuffix {
		t.Errorf("lifecycle policy repository = %q, want the repository's name", got)
	}
	var policy struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus   string
				CountType   string
				CountNumber int
			}
			Action struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(lifecycle["policy"].StringValue()), &policy); err != nil {
		t.Fatalf("lifecycle policy is not JSON: %v", err)
	}
	if len(policy.Rules) != 1 {
		t.Fatalf("lifecycle policy has %d rules, want 1", len(policy.Rules))
	}
	rule := policy.Rules[0]
	if rule.RulePriority != 1 || rule.Selection.TagStatus != "any" || rule.Selection.CountType != "imageCountMoreThan" ||
		rule.Selection.CountNumber != keepImages || rule.Action.Type != "expire" {
		t.Errorf("lifecycle rule = %+v, want: expire any image beyond the newest 7", rule)
	}

	img := m.registered(t, dockerType)
	build := img["build"].ObjectValue()
	for key, want := range map[string]string{
		"context":        "..",
		"dockerfile":     "../app/Dockerfile",
		"platform":       "linux/arm64",
		"builderVersion": "BuilderBuildKit",
	} {
		if got := build[resource.PropertyKey(key)].StringValue(); got != want {
			t.Errorf("build %s = %q, want %q", key, got, want)
		}
	}
	if img["buildOnPreview"].BoolValue() {
		t.Error("buildOnPreview is on; preview must not build or push")
	}
	suffix := m.registered(t, randomType)
	inputs := suffix["keepers"].ObjectValue()["buildInputs"].StringValue()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(inputs) {
		t.Errorf("random suffix keepers buildInputs = %q, want the build inputs' SHA-256", inputs)
	}
	if got := suffix["byteLength"].NumberValue(); got != 4 {
		t.Errorf("random suffix byteLength = %v, want 4", got)
	}
	if got, want := img["imageName"].StringValue(), repoURL+":arm64-"+inputs[:16]+"-"+pulumitest.RandomIDHex; got != want {
		t.Errorf("imageName = %q, want %q", got, want)
	}
	registry := img["registry"].ObjectValue()
	if got := registry["server"].StringValue(); got != repoURL {
		t.Errorf("registry server = %q, want %q", got, repoURL)
	}
	if got := registry["username"].StringValue(); got != "AWS" {
		t.Errorf("registry username = %q, want the token's", got)
	}
	if password := registry["password"]; !password.IsSecret() || password.SecretValue().Element.StringValue() != pulumitest.ECRPassword {
		t.Errorf("registry password = %v, want the token's password as a secret", password)
	}

	if len(m.Calls) != 1 || m.Calls[0].Args["registryId"].StringValue() != pulumitest.AccountID {
		t.Errorf("calls = %v, want one authorization token for registry %s", m.Calls, pulumitest.AccountID)
	}
	if want := repoURL + "@" + pulumitest.ImageDigest; res.ref != want {
		t.Errorf("Ref = %q, want the pushed digest %q", res.ref, want)
	}
	if res.repositoryURL == nil || *res.repositoryURL != repoURL {
		t.Errorf("RepositoryURL = %v, want %q", res.repositoryURL, repoURL)
	}
}

// TestBuildInputsFollowSource is the rollout contract: the build inputs, which name the image
// and renew its random suffix, change when, and only when, something that goes into the image
// does. The engine keeps the suffix while they stay the same, so the Deployment stays put.
func TestBuildInputsFollowSource(t *testing.T) {
	sourceTree(t)
	args := Args{RepoRoot: ".", InstanceType: "t3.medium"}
	buildInputs := func() string {
		t.Helper()
		m, _, err := deploy(t, args)
		if err != nil {
			t.Fatal(err)
		}
		return m.registered(t, randomType)["keepers"].ObjectValue()["buildInputs"].StringValue()
	}

	first := buildInputs()
	if again := buildInputs(); again != first {
		t.Fatalf("unchanged source: build inputs %q then %q", first, again)
	}
	writeFiles(t, ".", map[string]string{"infra/main.go": "package main // changed\n"})
	if got := buildInputs(); got != first {
		t.Errorf("a change outside the build context moved the build inputs from %q to %q", first, got)
	}
	steps := []struct {
		change string
		apply  func()
	}{
		{"app source", func() { writeFiles(t, ".", map[string]string{"app/main.go": "package main // v2\n"}) }},
		{"go.sum", func() { writeFiles(t, ".", map[string]string{"go.sum": "example.com/dep v1.0.0 h1:x\n"}) }},
		{".dockerignore", func() {
			writeFiles(t, ".", map[string]string{".dockerignore": "*\n!app/\n!go.mod\n!go.sum\napp/*_test.go\n"})
		}},
		{"platform", func() { args.InstanceType = "t4g.medium" }},
	}
	seen := map[string]string{first: "the first build"}
	for _, step := range steps {
		step.apply()
		got := buildInputs()
		if earlier, ok := seen[got]; ok {
			t.Errorf("after changing the %s the build inputs are %q, as after %s", step.change, got, earlier)
		}
		seen[got] = "the change of the " + step.change
	}
}

func TestInvalidArgsRegisterNothing(t *testing.T) {
	valid := Args{RepoRoot: ".", InstanceType: "t3.medium"}
	for _, tc := range []struct {
		name    string
		args    func(Args) Args
		prepare func()
		wantErr string
	}{
		{"no repo root", func(a Args) Args { a.RepoRoot = ""; return a }, nil, "RepoRoot"},
		{"absolute repo root", func(a Args) Args { a.RepoRoot, _ = os.Getwd(); return a }, nil, "RepoRoot"},
		{"no Dockerfile", func(a Args) Args { return a }, func() { os.Remove("app/Dockerfile") }, "Dockerfile"},
		{"no .dockerignore", func(a Args) Args { return a }, func() { os.Remove(".dockerignore") }, "no .dockerignore"},
		{"context wider than the tag", func(a Args) Args { return a }, func() {
			writeFiles(t, ".", map[string]string{".dockerignore": "*\n!app/\n!infra/\n"})
		}, `"!infra/" re-includes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourceTree(t)
			if tc.prepare != nil {
				tc.prepare()
			}
			m, _, err := deploy(t, tc.args(valid))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.wantErr)
			}
			if len(m.Resources) != 0 {
				t.Errorf("registered %v despite the error", m.types())
			}
		})
	}
}
