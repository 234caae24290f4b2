package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/app/loadtest"
	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/app/store"
)

// addrLog passes log lines on to the test output and reports the address from the
// "serving" line, which is how run tells callers which port it bound.
type addrLog struct {
	out  io.Writer
	addr chan string
	once sync.Once
}

func (a *addrLog) Write(p []byte) (int, error) {
	var rec struct{ Msg, Addr string }
	if json.Unmarshal(p, &rec) == nil && rec.Msg == "serving" {
		a.once.Do(func() { a.addr <- rec.Addr })
	}
	return a.out.Write(p)
}

// startRun runs the program with env on a free port and returns its base URL and a stop
// function that cancels it and returns run's error.
func startRun(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	env["LISTEN_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	logs := &addrLog{out: t.Output(), addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"app"}, func(k string) string { return env[k] }, logs) }()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("run did not return within 30s of cancel")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	select {
	case addr := <-logs.addr:
		return "http://" + addr, stop
	case err := <-done:
		t.Fatalf("run returned before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not log its address within 30s")
	}
	return "", nil
}

func checkHistory(t *testing.T, r *loadtest.Result) {
	t.Helper()
	s := r.Summary()
	if s.Errors > 0 || s.OK == 0 {
		t.Fatalf("load: %v", s)
	}
	if err := loadtest.CheckHistory(r.Ops, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

func maxNumber(ops []loadtest.Op) int64 {
	var m int64
	for _, o := range ops {
		if o.OK() {
			m = max(m, o.Number)
		}
	}
	return m
}

func TestRunEmbeddedStoreConcurrentAndRestart(t *testing.T) {
	for _, mode := range []string{"batch", "single"} {
		t.Run(mode, func(t *testing.T) {
			// A generous timeout: this checks the numbers, not latency, and single mode queues
			// 32 fsyncs on one connection, which a busy disk (a cold CI compiling beside
			// it) can stretch past the default 2 s.
			env := map[string]string{"SQLITE_PATH": filepath.Join(t.TempDir(), "counter.db"), "COUNTER_MODE": mode, "REQUEST_TIMEOUT": "30s"}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			url, stop := startRun(t, env)
			first, err := loadtest.Run(ctx, loadtest.Config{URLs: []string{url}, Clients: 32, Requests: 20})
			if err != nil {
				t.Fatal(err)
			}
			checkHistory(t, first)
			if err := stop(); err != nil {
				t.Fatalf("run after cancel: %v", err)
			}

			url, _ = startRun(t, env) // same file: continues above the last number
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/get-number")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ Number int64 }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if last := maxNumber(first.Ops); got.Number <= last {
				t.Fatalf("after restart got %d, want > %d (the last number before)", got.Number, last)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), []string{"app"}, func(k string) string {
		return map[string]string{"COUNTER_MODE": "fast"}[k]
	}, io.Discard)
	if err == nil || err.Error() != `config: COUNTER_MODE="fast" is invalid: use "batch" or "single"` {
		t.Fatalf("got %v", err)
	}
}

// After the stop signal and for SHUTDOWN_DELAY, /readyz fails but new connections are
// still accepted and served, so traffic can move away before the listener closes.
func TestShutdownDelayKeepsServing(t *testing.T) {
	env := map[string]string{"SQLITE_PATH": filepath.Join(t.TempDir(), "counter.db"), "SHUTDOWN_DELAY": "3s"}
	url, stop := startRun(t, env)
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := fresh.Get(url + "/readyz")
		if err != nil {
			t.Fatalf("/readyz after the stop signal: %v; want 503 while the delay lasts", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d 10s after the stop signal", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := fresh.Get(url + "/get-number")
	if err != nil {
		t.Fatalf("/get-number during the delay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/get-number during the delay: %d, want 200", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run after the delay: %v", err)
	}
}

// TestRunNamesSQLitePathInItsError: an unusable embedded store stops start-up with an
// error naming SQLITE_PATH.
func TestRunNamesSQLitePathInItsError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "counter.db")
	err := run(context.Background(), []string{"app"}, func(k string) string {
		return map[string]string{"SQLITE_PATH": path, "LISTEN_ADDR": "127.0.0.1:0"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SQLITE_PATH=\""+path+"\"") {
		t.Fatalf("got %v, want an error naming SQLITE_PATH", err)
	}
}

// TestRunSQLiteRowMissingStopsStartup pins what README says of the embedded store: a
// missing row stops start-up with the error naming SQLITE_PATH (MySQL replicas wait, 503).
func TestRunSQLiteRowMissingStopsStartup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter.db")
	st, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DELETE FROM "+schema.Table); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"app"}, func(k string) string {
		return map[string]string{"SQLITE_PATH": path, "LISTEN_ADDR": "127.0.0.1:0"}[k]
	}, io.Discard)
	if !errors.Is(err, store.ErrNoRow) || !strings.Contains(err.Error(), "SQLITE_PATH=\""+path+"\"") {
		t.Fatalf("got %v, want the missing row, naming SQLITE_PATH", err)
	}
}

// TestEveryResponseIsJSON sends, over a raw connection to the real server, the requests
// net/http's ServeMux would answer in its own formats: each gets a JSON 404.
func TestEveryResponseIsJSON(t *testing.T) {
	url, _ := startRun(t, map[string]string{"SQLITE_PATH": filepath.Join(t.TempDir(), "counter.db")})
	addr := strings.TrimPrefix(url, "http://")
	for _, line := range []string{
		"GET //get-number HTTP/1.1",
		"GET /a/../get-number HTTP/1.1",
		"GET /get-number/ HTTP/1.1",
		"CONNECT example.com:443 HTTP/1.1",
		"OPTIONS * HTTP/1.1",
	} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, line+"\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var body struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || err != nil || body.Error == "" {
			t.Errorf("%s: %d %s, JSON error %q (%v); want a JSON 404", line, resp.StatusCode, resp.Header.Get("Content-Type"), body.Error, err)
		}
	}
}

// TestResponsesFromNetHTTP pins the responses README lists as not JSON: net/http writes
// them itself, before any route runs, for requests it cannot parse (so they spend no
// number), and closes the connection. If net/http's list changes, so must README's.
func TestResponsesFromNetHTTP(t *testing.T) {
	url, _ := startRun(t, map[string]string{"SQLITE_PATH": filepath.Join(t.TempDir(), "counter.db")})
	addr := strings.TrimPrefix(url, "http://")
	const get = "GET /get-number HTTP/1.1\r\nHost: counter\r\n"
	for _, c := range []struct {
		name, request string
		code          int
		contentType   string
	}{
		{"no Host", "GET /get-number HTTP/1.1\r\n\r\n", 400, "text/plain; charset=utf-8"},
		{"no leading /", "GET get-number HTTP/1.1\r\nHost: counter\r\n\r\n", 400, "text/plain; charset=utf-8"},
		{"malformed request line", "GET\r\nHost: counter\r\n\r\n", 400, "text/plain; charset=utf-8"},
		{"invalid header", get + "Bad Name: x\r\n\r\n", 400, "text/plain; charset=utf-8"},
		{"2 MB header", get + "X-Big: " + strings.Repeat("x", 2<<20) + "\r\n\r\n", 431, "text/plain; charset=utf-8"},
		{"Transfer-Encoding: gzip", get + "Transfer-Encoding: gzip\r\n\r\n", 501, "text/plain; charset=utf-8"},
		{"HTTP/3.0", "GET /get-number HTTP/3.0\r\nHost: counter\r\n\r\n", 505, "text/plain; charset=utf-8"},
		{"Expect other than 100-continue", get + "Expect: x\r\n\r\n", 417, ""},
	} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		// Written while the answer is read: net/http answers 431 before the header ends.
		go io.WriteString(conn, c.request)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			conn.Close()
			continue
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != c.contentType || !resp.Close {
			t.Errorf("%s: %d %q (closing: %v), want %d %q and the connection closed", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close, c.code, c.contentType)
		}
	}
	resp, err := http.Get(url + "/get-number")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Number int64 }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Number != 1 {
		t.Errorf("the next number is %d (%v), want 1: a refused request spent a number", got.Number, err)
	}
}

// TestRequestBodyThatNeverComes sends a /get-number request that promises a body and never
// sends it. net/http reads such a body, to discard it, before it writes the answer, and
// without a read deadline it would wait for it forever, holding the request's number and
// goroutine (and shutdown). The connection must be closed once the request has been busy
// for REQUEST_TIMEOUT plus the header timeout, and the number counted as abandoned.
func TestRequestBodyThatNeverComes(t *testing.T) {
	url, _ := startRun(t, map[string]string{
		"SQLITE_PATH":     filepath.Join(t.TempDir(), "counter.db"),
		"REQUEST_TIMEOUT": "100ms",
	})
	addr := strings.TrimPrefix(url, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(20 * time.Second))
	if _, err := io.WriteString(conn, "GET /get-number HTTP/1.1\r\nHost: counter\r\nContent-Length: 10\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, conn)
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		t.Fatalf("the connection was still open after %v (%d bytes answered)", time.Since(start), n)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("closed after %v, want within REQUEST_TIMEOUT + 5s + 2s", took)
	}
	// The handler counts its number once its write to the closed connection fails, and the
	// close is counted after it is made: both may come just after the client saw it.
	want := []string{"\ncounter_numbers_abandoned_total 1\n", "\n" + `counter_http_connections_closed_total{limit="busy"} 1` + "\n"}
	var metrics string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if (strings.Contains(metrics, want[0]) && strings.Contains(metrics, want[1])) || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(metrics, want[0]) {
		t.Errorf("the request's number is not counted as abandoned:\n%s", grepLines(metrics, "counter_numbers_"))
	}
	if !strings.Contains(metrics, want[1]) {
		t.Errorf("the connection is not counted as closed for the busy limit:\n%s", grepLines(metrics, "counter_http_connections_closed_total"))
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
