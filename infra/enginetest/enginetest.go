// Package enginetest runs the Pulumi program the way its users do: `pulumi preview`, `up`
// and `destroy` by the real Pulumi CLI and engine and the real Kubernetes provider, against
// the real control plane of infra/kubetest. Nothing is mocked but what cannot run here:
//   - the Go language host is not served by the module proxy: infra/enginetest/languagehost
//     stands in for it, running the program binary built from infra/ with the environment
//     pulumi.Run reads, as the real host does once it has built the program. (The Automation
//     API's inline programs were tried first: they close the program's engine connection
//     as soon as it returns, where pulumi.Run waits for the engine to finish, so delete
//     hooks could not log; users never run that way.)
//   - pulumi-random's provider is not served either: infra/enginetest/randomprovider is a
//     stand-in for the one resource the program uses;
//   - both stand-ins and the program are built at test time from this repository;
//   - kwok plays the kubelet (pods are Ready without containers) and kubetest's CSI
//     stand-ins play the EBS CSI driver's provisioner and volume deletion.
//
// The aws, eks and docker providers must never start in existing mode: a stand-in binary
// of each on PATH records its launch, and Env fails the test if one ran.
//
// The binaries are built once by infra/enginetest/tools/build.sh (`make engine-bins`) into
// BinDir. Without them the tests skip, unless ENGINETEST_REQUIRE=1 (as in CI) makes that a
// failure.
package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
)

// modulePath is this repository's Go module.
const modulePath = "github.com/counter-mysql/counter-mysql"

// PulumiVersion is the CLI build.sh builds.
const PulumiVersion = "v3.274.1"

// Passphrase encrypts the secrets of every test stack (passphrase secrets provider).
const Passphrase = "enginetest passphrase"

// tripwires are providers that existing mode must never start.
var tripwires = []string{"aws", "eks", "docker", "docker-build"}

// BinDir is where build.sh puts the binaries: $ENGINETEST_BIN_DIR, by default
// ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/engine-v3.274.1.
func BinDir() string {
	if d := os.Getenv("ENGINETEST_BIN_DIR"); d != "" {
		return d
	}
	return kubetest.CacheDir("engine-" + PulumiVersion)
}

// skipWithoutBinaries skips t, or fails it when ENGINETEST_REQUIRE=1, if a binary is missing.
func skipWithoutBinaries(t testing.TB) {
	t.Helper()
	var missing []string
	for _, b := range []string{"pulumi", "pulumi-resource-kubernetes"} {
		if _, err := os.Stat(filepath.Join(BinDir(), b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("real-engine tier disabled: %s missing in %s; build them with `make engine-bins` (or infra/enginetest/tools/build.sh)",
		strings.Join(missing, ", "), BinDir())
	if os.Getenv("ENGINETEST_REQUIRE") == "1" {
		t.Fatal(msg + " (ENGINETEST_REQUIRE=1)")
	}
	t.Skip(msg)
}

// Env is a Pulumi installation of its own: a file backend, a PULUMI_HOME with no plugins,
// and a PATH on which the tier's providers come first. It leaves the process environment
// alone, so tests may use Envs in parallel.
type Env struct {
	cmd     auto.PulumiCommand
	dir     string
	project workspace.Project
	vars    map[string]string
	// tripwireLog is appended to by any tripwire provider that is started.
	tripwireLog string
}

// CommandTimeout bounds each CLI command; an up takes about 20 s on kwok's node.
const CommandTimeout = 5 * time.Minute

// built is one binary the tier builds from this repository, once per test binary.
type built struct {
	once sync.Once
	path string
	err  error
}

var (
	randomProvider = &built{}
	languageHost   = &built{}
	program        = &built{}
	buildDir       = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "enginetest-bin-") })
)

// build builds pkg (an import path of this module) as name.
func (b *built) build(pkg, name string) (string, error) {
	b.once.Do(func() {
		dir, err := buildDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	})
	return b.path, b.err
}

// Cleanup removes what the tier built; call it when the package's tests are done.
func Cleanup() {
	if dir, err := buildDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// New prepares an Env for t. projectFile is the repository's Pulumi.yaml: its config
// declarations (types, defaults) are what the CLI applies, as for a user.
func New(t *testing.T, projectFile string) *Env {
	t.Helper()
	skipWithoutBinaries(t)
	random, err := randomProvider.build(modulePath+"/infra/enginetest/randomprovider", "pulumi-resource-random")
	if err != nil {
		t.Fatal(err)
	}
	host, err := languageHost.build(modulePath+"/infra/enginetest/languagehost", "pulumi-language-go")
	if err != nil {
		t.Fatal(err)
	}
	// The user's program, infra/main.go, as `pulumi up` would build it.
	prog, err := program.build(modulePath+"/infra", "counter-mysql-program")
	if err != nil {
		t.Fatal(err)
	}
	proj, err := workspace.LoadProject(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each stack's work directory holds the project file; the language host stand-in runs
	// the program built from infra/ there.
	proj.Main = ""

	dir := t.TempDir()
	e := &Env{dir: dir, project: *proj, tripwireLog: filepath.Join(dir, "tripwires.log")}
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"pulumi", "pulumi-resource-kubernetes"} {
		if err := os.Symlink(filepath.Join(BinDir(), name), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"pulumi-resource-random": random, "pulumi-language-go": host} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range tripwires {
		script := fmt.Sprintf("#!/bin/sh\necho \"pulumi-resource-%s $*\" >> %q\nexit 1\n", name, e.tripwireLog)
		if err := os.WriteFile(filepath.Join(bin, "pulumi-resource-"+name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The CLI gets the Automation API's environment: this process's, with bin first on
	// PATH (so the tier's providers win over any installed ones), and these.
	e.vars = map[string]string{
		"PULUMI_HOME":                                 filepath.Join(dir, "home"),
		"PULUMI_BACKEND_URL":                          "file://" + filepath.Join(dir, "state"),
		"PULUMI_CONFIG_PASSPHRASE":                    Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", // a missing plugin fails at once, never downloads
		"KUBECONFIG":                                  "",     // the stack names its kubeconfig; none of the machine's is used
		"ENGINETEST_PROGRAM":                          prog,
	}
	e.cmd, err = auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.checkTripwires(t) })
	return e
}

// checkTripwires fails t if the engine started a provider that existing mode never uses.
func (e *Env) checkTripwires(t *testing.T) {
	b, err := os.ReadFile(e.tripwireLog)
	if err == nil && len(b) > 0 {
		t.Errorf("the engine started providers that existing mode never uses:\n%s", b)
	}
}

// Stack is one stack of the project, on the Env's backend.
type Stack struct {
	auto.Stack
	env *Env
}

// NewStack creates stack name of the program with config (keys without the project prefix).
func (e *Env) NewStack(t *testing.T, name string, config map[string]string) *Stack {
	t.Helper()
	ctx := t.Context()
	work := filepath.Join(e.dir, "work-"+name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := auto.UpsertStackLocalSource(ctx, name, work,
		auto.Project(e.project), auto.Pulumi(e.cmd), auto.SecretsProvider("passphrase"), auto.EnvVars(e.vars))
	if err != nil {
		t.Fatal(err)
	}
	st := &Stack{Stack: s, env: e}
	st.SetConfig(t, config)
	return st
}

// SetConfig sets the given keys (without the project prefix).
func (s *Stack) SetConfig(t *testing.T, config map[string]string) {
	t.Helper()
	cm := auto.ConfigMap{}
	for k, v := range config {
		cm[s.env.project.Name.String()+":"+k] = auto.ConfigValue{Value: v}
	}
	if err := s.SetAllConfig(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
}

// RunPreview runs `pulumi preview` and returns its result and what it printed.
func (s *Stack) RunPreview(t *testing.T, opts ...optpreview.Option) (auto.PreviewResult, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), CommandTimeout)
	defer cancel()
	var out mysqltest.SyncBuffer // stdout and stderr interleaved, as a user sees them
	res, err := s.Preview(ctx, append(opts, optpreview.ProgressStreams(&out), optpreview.ErrorProgressStreams(&out))...)
	t.Logf("pulumi preview:\n%s", out.String())
	return res, out.String(), err
}

// RunUp runs `pulumi up --yes --skip-preview` (the Automation API always skips the
// preview) and returns its result and what it printed.
func (s *Stack) RunUp(t *testing.T, opts ...optup.Option) (auto.UpResult, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), CommandTimeout)
	defer cancel()
	var out mysqltest.SyncBuffer
	start := time.Now()
	res, err := s.Up(ctx, append(opts, optup.ProgressStreams(&out), optup.ErrorProgressStreams(&out))...)
	t.Logf("pulumi up (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	return res, out.String(), err
}

// MustUp is RunUp that fails t on error.
func (s *Stack) MustUp(t *testing.T, opts ...optup.Option) (auto.UpResult, string) {
	t.Helper()
	res, out, err := s.RunUp(t, opts...)
	if err != nil {
		t.Fatalf("pulumi up: %v", err)
	}
	return res, out
}

// RunDestroy runs `pulumi destroy --yes --skip-preview`, with --run-program if
// runProgram, and returns what it printed.
func (s *Stack) RunDestroy(t *testing.T, runProgram bool) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), CommandTimeout)
	defer cancel()
	var out mysqltest.SyncBuffer
	start := time.Now()
	_, err := s.Destroy(ctx, optdestroy.RunProgram(runProgram), optdestroy.ProgressStreams(&out), optdestroy.ErrorProgressStreams(&out))
	t.Logf("pulumi destroy (run program: %v, %s):\n%s", runProgram, time.Since(start).Round(time.Second), out.String())
	return out.String(), err
}

// State is the stack's exported state (`pulumi stack export`) as JSON.
func (s *Stack) State(t *testing.T) string {
	t.Helper()
	dep, err := s.Export(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(dep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// URNs are the URNs of the resources in the stack's state.
func (s *Stack) URNs(t *testing.T) []string {
	t.Helper()
	var exported struct {
		Deployment struct {
			Resources []struct {
				URN string `json:"urn"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(s.State(t)), &exported); err != nil {
		t.Fatal(err)
	}
	var urns []string
	for _, r := range exported.Deployment.Resources {
		urns = append(urns, r.URN)
	}
	return urns
}

// PasswordURNs are the URNs of the stack's generated passwords (root, app, exporter), for
// the rotation docs/operating.md documents (`pulumi up --replace` of each); t fails unless
// there are three.
func (s *Stack) PasswordURNs(t *testing.T) []string {
	t.Helper()
	var urns []string
	for _, urn := range s.URNs(t) {
		if strings.Contains(urn, "random:index/randomPassword:RandomPassword") {
			urns = append(urns, urn)
		}
	}
	if len(urns) != 3 {
		t.Fatalf("want the three RandomPassword resources, found %v", urns)
	}
	return urns
}
