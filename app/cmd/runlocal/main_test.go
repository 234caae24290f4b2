package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
)

// TestRunsTheAppOnAThrowawayDatabase builds the app, runs it the way `make run-local`
// does, gets numbers over HTTP, stops it as Ctrl-C does and checks the data is gone.
func TestRunsTheAppOnAThrowawayDatabase(t *testing.T) {
	mysqltest.Require(t)
	app := filepath.Join(t.TempDir(), "counter")
	if out, err := exec.Command("go", "build", "-o", app, "github.com/counter-mysql/counter-mysql/app").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	listen := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out mysqltest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, app, listen, &out) }()

	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "the counter is up") {
		select {
		case err := <-done:
			t.Fatalf("run ended before the app was up: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not up after 2 minutes:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "curl -s http://"+listen+"/get-number") {
		t.Errorf("the URL to curl is not printed:\n%s", out.String())
	}
	for want := int64(1); want <= 2; want++ {
		if got := getNumber(t, "http://"+listen+"/get-number"); got != want {
			t.Errorf("number %d: got %d", want, got)
		}
	}
	m := regexp.MustCompile(`its data is in (\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the data directory is not printed:\n%s", out.String())
	}
	if _, err := os.Stat(m[1]); err != nil {
		t.Fatalf("data directory while running: %v", err)
	}

	cancel() // what Ctrl-C does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v\n%s", err, out.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running 2 minutes after the interrupt:\n%s", out.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("data directory %s after the stop: %v (want it deleted)", m[1], err)
	}
	if _, err := http.Get("http://" + listen + "/healthz"); err == nil {
		t.Error("the app still answers after the stop")
	}
}

func TestReachable(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:8080": "127.0.0.1:8080", "[::]:8080": "127.0.0.1:8080",
		"127.0.0.1:8080": "127.0.0.1:8080", "localhost:9000": "localhost:9000",
	} {
		if got := reachable(in); got != want {
			t.Errorf("reachable(%q) = %q, want %q", in, got, want)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func getNumber(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Number int64 }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return body.Number
}
