// Command testrun is `make test`: it does the set-up a fresh Debian machine with Go needs
// (MariaDB and gcc when allowed, the pinned test binaries, cached), says what each slow
// step is doing and how long it usually takes, runs every test tier with `go test -json`,
// prints each package's result and every skip reason, and ends with a table of tiers:
// ran, skipped (and why), failed. With -unit it is the inner loop: no set-up, no servers.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// heartbeatEvery is how long a step may stay silent before its progress is printed.
const heartbeatEvery = 30 * time.Second

// usually are the times of the slow test packages, warm, measured on this project's 2-core
// machine shared with other builds, for the progress lines: infra/enginetest 180 s alone
// with its scenarios four at once on 2026-12-06 (375 s two at once beside infra/nodetest,
// 472-479 s one at a time), and on 2026-12-03 at a load average of 13-16 infra/e2e 42 s,
// app/service 29 s, app/mysqltest 16 s.
var usually = map[string]string{
	"infra/enginetest": "~4-7 min",
	"infra/nodetest":   "~4-6 min",
	"infra/e2e":        "~40 s",
	"app/service":      "20-30 s",
	"app/mysqltest":    "~15 s",
}

// benchmarksOnce runs every benchmark (all are in ./app/...) for one iteration, so one
// that no longer runs (one panicked on a new Deps field for weeks) fails here, not when
// someone needs its figures. Apart from the tests and without the race detector: with
// -bench, go test runs its packages one at a time (the app's tests took 87 s instead of 48).
func (r *runner) benchmarksOnce() {
	r.goTest("every benchmark once", []string{"test", "-count=1", "-json", "-run=^$", "-bench=.", "-benchtime=1x", "./app/..."})
}

// serverPackages start servers or control planes; -unit leaves them out.
var serverPackages = []string{"infra/e2e", "infra/kubetest", "infra/enginetest", "infra/nodetest", "infra/nodetest/images"}

func main() {
	unit := flag.Bool("unit", false, "unit tests only: no set-up, no database, Kubernetes or engine tier")
	setup := flag.Bool("setup", true, "install missing packages and build the test binaries first")
	flag.Parse()
	r := &runner{out: os.Stdout, started: time.Now()}
	if *unit {
		r.unit()
	} else {
		r.all(*setup)
	}
	if !r.report() {
		os.Exit(1)
	}
}

type runner struct {
	out      io.Writer
	started  time.Time
	env      []string // added to every command's environment
	setupErr []string
	sum      *summary
}

func (r *runner) all(setup bool) {
	if setup {
		r.setup()
	}
	// The race detector on the app, where the concurrency is; infra without it: a race
	// build of the Pulumi AWS SDK costs minutes and gigabytes for code with no goroutines of ours.
	race := r.raceFlag()
	appCold := "" // measured with -race only
	if len(race) > 0 {
		appCold = "~2 min cold with -race (1 min 49 s measured)"
	}
	r.precompile(race, appCold, "./app/...")
	r.precompile(nil, "", "./infra/...", "./internal/...")
	r.sum = newSummary(r.out)
	r.goTest("app tests"+map[bool]string{true: " with the race detector", false: ""}[len(race) > 0],
		slices.Concat([]string{"test"}, race, []string{"-count=1", "-json", "./app/..."}))
	r.benchmarksOnce()
	// The real-engine tier runs the CLI for minutes: past go test's default 10m timeout.
	// Its scenarios run two at a time (go test's default on two cores): four at once beside
	// the real-node tier starved that tier's network once (every dial to a Service timed
	// out for 5 s, 2026-12-06), so make test-engine alone uses four.
	// The two slow tiers are named first, and three packages run at once (-p 3, not go
	// test's two on two cores): go test starts packages in the order given, so the slow
	// tiers, which mostly wait on clusters, run side by side from the start and the short
	// packages pass through the third slot meanwhile instead of queueing behind them (the
	// infra tests took 423 s two at a time, 2026-12-06).
	r.goTest("infra and tooling tests", []string{"test", "-count=1", "-p", "3", "-timeout", "30m", "-json", "./infra/enginetest", "./infra/nodetest", "./infra/...", "./internal/..."})
}

// setup installs what is missing and builds the pinned test binaries, each cached. The
// times are the ranges measured on 2-core machines shared with other builds (docs/testing.md
// and CI; the git log), e.g. the Kubernetes binaries 491 s to 1,673 s.
func (r *runner) setup() {
	r.step("installing missing system packages (MariaDB, gcc): 25 s measured when something is missing", "bash", ".ci/install-packages")
	r.step("downloading the Go modules: 20 s-1.5 min cold, nothing to do when cached", "go", "mod", "download")
	r.step("building the Kubernetes test binaries: cold, 8-28 min for the control plane, and kubelet, kube-proxy and CoreDNS add 5 min of CPU (13 min measured at load average 20); 2 GB of memory; nothing to do when cached", "bash", "infra/kubetest/tools/build.sh")
	r.step("generating the Prometheus Operator CRDs: ~4 min cold, mostly compiling controller-gen (3 min 55 s measured at load average 13-15), nothing to do when cached", "bash", "infra/kubetest/tools/promcrd/build.sh")
	r.step("building kube-score: 1-1.5 min cold, nothing to do when cached", "bash", "infra/kubescore/tools/build.sh")
	r.step("building promtool: 5-10 min cold (8.5-9.6 min measured at load average 10), nothing to do when cached", "bash", "infra/alerts/tools/build.sh")
	if os.Getenv("ENGINETEST_REQUIRE") == "1" || os.Getenv("TEST_ENGINE") == "1" {
		r.step("building the Pulumi CLI and Kubernetes provider: 17-26 min cold, nothing to do when cached", "bash", "infra/enginetest/tools/build.sh")
	} else {
		fmt.Fprintln(r.out, "::: not building the Pulumi CLI and provider (opt-in, 17-26 min cold: `make engine-bins` or `make test TEST_ENGINE=1`); the real-engine tier skips unless they were built before")
	}
}

// unit runs every package that starts no server, with the database tier pointed at a
// binary that does not exist so its tests skip, whatever the environment requires.
func (r *runner) unit() {
	r.env = []string{"COUNTER_TEST_MYSQLD=/nonexistent/mariadbd", "COUNTER_TEST_MYSQL_DSN=", "COUNTER_TEST_REQUIRE_MYSQL=", "KUBESCORE_REQUIRE=", "PROMTOOL_REQUIRE="}
	out, err := r.command("go", "list", "./app/...", "./infra/...", "./internal/...").Output()
	if err != nil {
		r.setupErr = append(r.setupErr, fmt.Sprintf("go list: %v", err))
		return
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if !slices.Contains(serverPackages, strings.TrimPrefix(p, module)) {
			pkgs = append(pkgs, p)
		}
	}
	r.sum = newSummary(r.out)
	r.goTest("unit tests", append([]string{"test", "-count=1", "-json"}, pkgs...))
	r.benchmarksOnce()
}

func (r *runner) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// step runs a set-up command with its output shown, a progress line when it is silent for
// a while, and its time at the end. A failure is reported in the summary; the tests run
// anyway, so what does not depend on the step still reports.
func (r *runner) step(what string, name string, args ...string) {
	fmt.Fprintf(r.out, "::: %s\n", what)
	t0 := time.Now()
	cmd := r.command(name, args...)
	cmd.Stdout = r.out
	doing, _, _ := strings.Cut(what, ":")
	err := r.withHeartbeat(cmd, func(d time.Duration) {
		fmt.Fprintf(r.out, "... %v: still %s\n", d, doing)
	})
	if err != nil {
		r.setupErr = append(r.setupErr, fmt.Sprintf("%s %s: %v", name, strings.Join(args, " "), err))
		fmt.Fprintf(r.out, "::: FAILED after %v: %v\n", time.Since(t0).Round(time.Second), err)
		return
	}
	fmt.Fprintf(r.out, "::: done in %v\n", time.Since(t0).Round(time.Second))
}

// withHeartbeat runs cmd, calling beat every heartbeatEvery until it ends.
func (r *runner) withHeartbeat(cmd *exec.Cmd, beat func(time.Duration)) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	t0 := time.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			beat(time.Since(t0).Round(time.Second))
		}
	}
}

// raceFlag is -race when cgo can build it, else nothing, with a note.
func (r *runner) raceFlag() []string {
	if _, err := exec.LookPath("gcc"); err != nil {
		fmt.Fprintln(r.out, "::: no gcc: the app tests run without the race detector (apt-get install gcc libc6-dev)")
		return nil
	}
	return []string{"-race"}
}

// precompile compiles the dependencies of pkgs that are not in Go's build cache, as a step
// of its own, so a cold cache shows as such instead of as a silent go test. cold is the
// measured time of that compile, "" where none was measured.
func (r *runner) precompile(flags []string, cold string, pkgs ...string) {
	list := slices.Concat([]string{"list", "-deps", "-test", "-f", `{{if and .Stale (not .ForTest) (ne .Name "main")}}{{.ImportPath}}{{end}}`}, flags, pkgs)
	out, err := r.command("go", list...).Output()
	if err != nil {
		return // go test reports the same problem, where it belongs
	}
	stale := strings.Fields(string(out))
	if len(stale) == 0 {
		return
	}
	what := fmt.Sprintf("compiling the %d packages the tests of %s need that are not in Go's build cache", len(stale), strings.Join(pkgs, " "))
	if slices.ContainsFunc(stale, func(p string) bool { return strings.HasPrefix(p, "github.com/pulumi/pulumi-aws/") }) {
		what += ", the Pulumi AWS SDK among them: ~13 min cold on 2 busy cores (13 min 16 s measured)"
	} else if cold != "" {
		what += ": " + cold
	}
	what += ", cached after"
	r.step(what, "go", slices.Concat([]string{"build"}, flags, stale)...)
}

// goTest runs go test with -json args into the summary.
func (r *runner) goTest(what string, args []string) {
	shown := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "-json" })
	for i := range shown {
		shown[i] = strings.TrimPrefix(shown[i], module)
	}
	fmt.Fprintf(r.out, "::: %s: go %s\n", what, strings.Join(shown, " "))
	t0 := time.Now()
	cmd := r.command("go", args...)
	// An io.Pipe, not StdoutPipe: Wait then returns only once everything written was read.
	// Stderr too, so go's own errors show where they happen among the events.
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	read := make(chan struct{})
	go func() { r.sum.read(pr); close(read) }()
	failedBefore := r.sum.failed()
	err := r.withHeartbeat(cmd, func(time.Duration) { r.sum.heartbeat(t0, usually) })
	pw.Close()
	<-read
	// go test exits non-zero when a test fails, which the summary counts; a failure it did
	// not see (go itself could not run) must not pass unnoticed.
	if err != nil && r.sum.failed() == failedBefore {
		r.setupErr = append(r.setupErr, fmt.Sprintf("go test (%s): %v", what, err))
	}
	fmt.Fprintf(r.out, "::: %s: %v\n", what, time.Since(t0).Round(time.Second))
}

// report prints the tier table and says whether everything that ran passed.
func (r *runner) report() bool {
	fmt.Fprintf(r.out, "\n::: summary (%v in all)\n", time.Since(r.started).Round(time.Second))
	ok := r.sum == nil || r.sum.table(r.out)
	for _, e := range r.setupErr {
		fmt.Fprintln(r.out, "  - set-up failed: "+e)
	}
	return ok && len(r.setupErr) == 0 && r.sum != nil
}
