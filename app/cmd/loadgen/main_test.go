package main

import (
	"bytes"
	"context"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
)

// The load generator is a program, not a test: linking the testing package would bring its
// flags and init into it (issue 14).
func TestDoesNotLinkTesting(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" {
			t.Fatal("loadgen links the testing package; see go list -deps ./app/cmd/loadgen")
		}
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-clients", "0"}, {"-replicas", "0"}, {"-duration", "0s"}, {"-warmup", "-1s"}, {"-db-conns", "0"}, {"-runs", "0"}, {"-lines", "batch/nope"}, {"-app-env", "COUNTER_MAX_BATCH"}, {"-app-env", "=1"}, {"-no-such-flag"}} {
		var out, errs bytes.Buffer
		if err := run(context.Background(), args, &out, &errs); err == nil {
			t.Errorf("run(%q) accepted bad flags", args)
		}
	}
}

// The servers under test are this executable re-run (see child.go); in a test binary that
// is the test binary, which must serve instead of testing.
func TestMain(m *testing.M) {
	serveIfAsked()
	os.Exit(m.Run())
}

// row is one printed line of figures.
type row struct {
	clients              int
	reqPerSec            float64
	errors, dups         int
	batch, appCPU, dbCPU string
	loadCPU, idle        string
	vsRedis, vsMemory    string
	vsBare               string
}

// rows parses the tables run printed: rows[name] lists that line's rows in order.
func rows(t *testing.T, out string) map[string][]row {
	t.Helper()
	got := map[string][]row{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 17 || !strings.Contains(f[0], "/") {
			continue
		}
		var r row
		var err error
		ints := []*int{&r.clients, &r.errors, &r.dups}
		for i, at := range []int{1, 5, 6} {
			if *ints[i], err = strconv.Atoi(f[at]); err != nil {
				t.Fatalf("line %q: field %d: %v", l, at, err)
			}
		}
		if r.reqPerSec, err = strconv.ParseFloat(f[2], 64); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		r.batch, r.appCPU, r.dbCPU, r.loadCPU, r.idle, r.vsRedis, r.vsMemory, r.vsBare = f[7], f[9], f[10], f[11], f[12], f[13], f[14], f[15]
		got[f[0]] = append(got[f[0]], r)
	}
	return got
}

func positive(s string) bool {
	v, err := strconv.ParseFloat(s, 64)
	return err == nil && v > 0
}

// measured says s is a figure, not "n/a". CPU time is counted in clock ticks of 10 ms and
// the ratios are printed to two decimals, so on a loaded machine (CI, the race detector,
// other tests' fsyncs) a short line can measure 0 of either; TestCPUTime checks the
// measurement itself.
func measured(s string) bool {
	v, err := strconv.ParseFloat(s, 64)
	return err == nil && v >= 0
}

// A short run starts its own databases (binary log off and on) and Redis servers and
// prints one error-free line per configuration with figures from real requests: CPU per
// request of the servers and the databases, numbers per statement, and the ratios.
func TestReportsEveryLine(t *testing.T) {
	mysqltest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-clients", "8", "-duration", "500ms", "-warmup", "0s"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	got := rows(t, out.String())
	want := []string{"bare/binlog-off", "batch/binlog-off", "single/binlog-off", "bare/binlog-on", "batch/binlog-on", "single/binlog-on", lineMemory}
	_, err := exec.LookPath("redis-server")
	if err == nil {
		want = append(want, lineRedis, lineRedisAOF)
	} else if !strings.Contains(out.String(), "Redis lines skipped: redis-server is not on PATH") {
		t.Errorf("no Redis lines and no message saying why in:\n%s", &out)
	}
	for _, name := range want {
		rs := got[name]
		if len(rs) != 1 {
			t.Errorf("%d %s lines in:\n%s", len(rs), name, &out)
			continue
		}
		r := rs[0]
		if r.clients != 8 || r.reqPerSec <= 0 || r.errors != 0 || r.dups != 0 {
			t.Errorf("%s: %+v; want 8 clients, requests answered, no errors or duplicates", name, r)
		}
		onDB := name != lineMemory
		if runtime.GOOS == "linux" && (!measured(r.appCPU) || onDB != measured(r.dbCPU) || !measured(r.loadCPU)) {
			t.Errorf("%s: CPU µs per request app %s, db %s, load generator %s; want measured (db only with a database)",
				name, r.appCPU, r.dbCPU, r.loadCPU)
		}
		if idle, err := strconv.ParseFloat(r.idle, 64); runtime.GOOS == "linux" && (err != nil || idle < 0 || idle > 100) {
			t.Errorf("%s: idle %s%%; want a percentage", name, r.idle)
		}
		if statements := strings.HasPrefix(name, "batch/") || strings.HasPrefix(name, "single/") || strings.HasPrefix(name, bareMode+"/"); statements != positive(r.batch) {
			t.Errorf("%s: numbers per statement %q", name, r.batch)
		}
		if !measured(r.vsMemory) || (err == nil) != measured(r.vsRedis) {
			t.Errorf("%s: ratios to Redis %s and to the ceiling %s", name, r.vsRedis, r.vsMemory)
		}
		if onMySQL := onDB && !strings.HasPrefix(name, "redis/"); onMySQL != measured(r.vsBare) {
			t.Errorf("%s: ratio to the bare coalescer %s; want one on the MySQL lines only", name, r.vsBare)
		}
	}
	if r := got[lineMemory]; len(r) == 1 && r[0].vsMemory != "1.00" {
		t.Errorf("the ceiling's ratio to itself is %s", r[0].vsMemory)
	}
	if r := got["bare/binlog-on"]; len(r) == 1 && r[0].vsBare != "1.00" {
		t.Errorf("the bare coalescer's ratio to itself is %s", r[0].vsBare)
	}
}

// -sweep prints every selected line at each client count, on an existing server (-dsn).
func TestSweep(t *testing.T) {
	srv := mysqltest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-dsn", srv.DSN(""), "-sweep", "-duration", "100ms", "-warmup", "0s", "-lines", "batch/external," + lineMemory}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	got := rows(t, out.String())
	if len(got) != 2 {
		t.Errorf("lines %v, want batch/external and %s only", slices.Collect(maps.Keys(got)), lineMemory)
	}
	for name, rs := range got {
		var clients []int
		for _, r := range rs {
			clients = append(clients, r.clients)
			if r.reqPerSec <= 0 || r.errors != 0 || r.dups != 0 {
				t.Errorf("%s: %+v", name, r)
			}
		}
		if !slices.Equal(clients, sweepClients) {
			t.Errorf("%s ran at %v clients, want %v", name, clients, sweepClients)
		}
	}
}

// -app-env settings reach the app servers, after (so over) the flags' own.
func TestAppEnvReachesTheApp(t *testing.T) {
	srv := mysqltest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-dsn", srv.DSN(""), "-clients", "8", "-duration", "200ms", "-warmup", "0s", "-lines", "batch/external",
		"-max-batch", "256", "-app-env", "COUNTER_MAX_BATCH=1"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	if r := rows(t, out.String())["batch/external"]; len(r) != 1 || r[0].batch != "1.0" {
		t.Errorf("batch/external rows %+v, want one with 1.0 numbers per statement (COUNTER_MAX_BATCH=1) in:\n%s", r, &out)
	}
}

// -runs prints every round, then the median of each line over the rounds.
func TestRunsPrintMedians(t *testing.T) {
	srv := mysqltest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-dsn", srv.DSN(""), "-runs", "3", "-clients", "4", "-duration", "100ms", "-warmup", "0s", "-lines", "batch/external," + lineMemory}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	rounds := rows(t, out.String())
	if len(rounds["batch/external"]) != 3 || len(rounds[lineMemory]) != 3 {
		t.Fatalf("want 3 rounds of each line in:\n%s", &out)
	}
	_, medians, ok := strings.Cut(out.String(), "4 clients, median of 3 rounds\n")
	if !ok {
		t.Fatalf("no median table in:\n%s", &out)
	}
	got := map[string][]string{}
	for _, l := range strings.Split(medians, "\n") {
		if f := strings.Fields(l); len(f) == 15 && strings.Contains(f[0], "/") {
			got[f[0]] = f
		}
	}
	var reqs []float64
	for _, r := range rounds["batch/external"] {
		reqs = append(reqs, r.reqPerSec)
	}
	slices.Sort(reqs)
	if f := got["batch/external"]; f == nil || f[1] != strconv.FormatFloat(reqs[1], 'f', 0, 64) || f[4] != "0" || f[5] != "0" {
		t.Errorf("median line of batch/external = %v, want req/s %.0f (the middle of %v), no errors or duplicates", f, reqs[1], reqs)
	}
	if f := got[lineMemory]; f == nil || f[11] != "1.00" {
		t.Errorf("median line of the ceiling = %v, want its ratio to itself 1.00", f)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, in := range [][]float64{nil, {1, math.NaN(), 3}} {
		if got := median(in); !math.IsNaN(got) {
			t.Errorf("median(%v) = %v, want NaN (not measured)", in, got)
		}
	}
	// The quartiles of 1..5 and of 1..4, as numpy.quantile gives them.
	for _, tc := range []struct {
		in     []float64
		q1, q3 float64
	}{{[]float64{5, 1, 4, 2, 3}, 2, 4}, {[]float64{4, 1, 3, 2}, 1.75, 3.25}, {[]float64{7}, 7, 7}} {
		if q1, q3 := quantile(tc.in, 0.25), quantile(tc.in, 0.75); q1 != tc.q1 || q3 != tc.q3 {
			t.Errorf("quartiles of %v = %v, %v; want %v, %v", tc.in, q1, q3, tc.q1, tc.q3)
		}
	}
}

func TestCPUTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, ok := cpuTime(os.Getpid()); ok {
			t.Error("CPU time measured without /proc")
		}
		return
	}
	before, ok := cpuTime(os.Getpid())
	if !ok {
		t.Fatal("no CPU time for this process")
	}
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
	}
	after, _ := cpuTime(os.Getpid())
	if d := after - before; d < 100*time.Millisecond || d > 10*time.Second {
		t.Errorf("200 ms of spinning used %v of CPU", d)
	}
	if _, ok := cpuTime(1 << 30); ok {
		t.Error("CPU time of a process that does not exist")
	}
}

func TestIdleMeter(t *testing.T) {
	// A fixture: the first line counts; idle is idle plus iowait; guest is not counted twice.
	idle, total, ok := parseCPUStat("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n")
	if !ok || idle != 840 || total != 1000 {
		t.Errorf("parseCPUStat = %d idle of %d, %v; want 840 of 1000", idle, total, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 x 4 5 6 7 8\n", "cpu 1 2 3\n"} {
		if _, _, ok := parseCPUStat(bad); ok {
			t.Errorf("parseCPUStat(%q) accepted", bad)
		}
	}
	m := startIdle()
	time.Sleep(100 * time.Millisecond)
	got := m.done()
	if runtime.GOOS != "linux" {
		if !math.IsNaN(got) {
			t.Errorf("idle %v%% measured without /proc", got)
		}
		return
	}
	if !(got >= 0 && got <= 100) {
		t.Errorf("idle over 100 ms = %v%%, want a percentage", got)
	}
}
