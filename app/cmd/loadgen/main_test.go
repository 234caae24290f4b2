package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
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
	for _, args := range [][]string{{"-clients", "0"}, {"-replicas", "0"}, {"-duration", "0s"}, {"-warmup", "-1s"}, {"-db-conns", "0"}, {"-no-such-flag"}} {
		var out, errs bytes.Buffer
		if err := run(context.Background(), args, &out, &errs); err == nil {
			t.Errorf("run(%q) accepted bad flags", args)
		}
	}
}

// A short run against a real database prints one line per mode with figures from real
// requests, and the ratio.
func TestReportsEveryMode(t *testing.T) {
	srv := mysqltest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-dsn", srv.DSN(""), "-clients", "8", "-duration", "300ms", "-warmup", "0s", "-ceiling"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	for _, mode := range []string{"batch", "single", "no-db"} {
		m := regexp.MustCompile(`(?m)^` + mode + `\s+(\d+) req/s .* errors 0\b`).FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("no error-free %s line in:\n%s", mode, &out)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Errorf("%s: %s req/s", mode, m[1])
		}
	}
	// Figures read back from the servers' /metrics: at least one number per statement and
	// a statement latency.
	for _, mode := range []string{"batch", "single"} {
		m := regexp.MustCompile(`(?m)^` + mode + ` .* mean batch (\d+\.\d) +mean statement (\S+)$`).FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("no %s batch and statement figures in:\n%s", mode, &out)
			continue
		}
		batch, _ := strconv.ParseFloat(m[1], 64)
		took, err := time.ParseDuration(m[2])
		if batch < 1 || err != nil || took <= 0 {
			t.Errorf("%s: mean batch %s, mean statement %s; want >= 1 and a positive duration", mode, m[1], m[2])
		}
	}
	if !strings.Contains(out.String(), "coalesced/single throughput: ") {
		t.Errorf("no ratio in:\n%s", &out)
	}
}
