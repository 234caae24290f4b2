package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCounter returns consecutive numbers, or err, or panics, or (with entered set)
// signals entry and returns only once release is closed.
type fakeCounter struct {
	n       atomic.Int64
	err     error
	panic   bool
	entered chan struct{}
	release chan struct{}
}

func (f *fakeCounter) Next(ctx context.Context) (int64, error) {
	if f.panic {
		panic("boom")
	}
	if f.entered != nil {
		f.entered <- struct{}{}
		<-f.release
	}
	if f.err != nil {
		return 0, f.err
	}
	return f.n.Add(1), nil
}

type fixture struct {
	srv     *httptest.Server
	counter *fakeCounter
	ready   atomic.Pointer[error]
	down    atomic.Bool
	// reqCtx gets each /get-number request's context as net/http made it: it ends when
	// net/http sees the end of the connection's read side.
	reqCtx chan context.Context
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{counter: &fakeCounter{}, reqCtx: make(chan context.Context, 100)}
	h := New(Deps{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Counter: f.counter,
		Metrics: NewMetrics(),
		Ready: func(context.Context) error {
			if p := f.ready.Load(); p != nil {
				return *p
			}
			return nil
		},
		ShuttingDown:   f.down.Load,
		RequestTimeout: time.Second,
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/get-number" {
			select {
			case f.reqCtx <- r.Context():
			default: // a test that does not look
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// wantJSON checks status, content type and that the body decodes into v.
func wantJSON(t *testing.T, resp *http.Response, body string, code int, v any) {
	t.Helper()
	if resp.StatusCode != code {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, code, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Errorf("body %q is not the expected JSON: %v", body, err)
	}
}

type errResp struct {
	Error string `json:"error"`
}

func wantError(t *testing.T, resp *http.Response, body string, code int) {
	t.Helper()
	var e errResp
	wantJSON(t, resp, body, code, &e)
	if e.Error == "" {
		t.Errorf("error body %q has no error message", body)
	}
}

func TestGetNumber(t *testing.T) {
	f := newFixture(t)
	for want := int64(1); want <= 2; want++ {
		resp, body := f.do(t, http.MethodGet, "/get-number")
		var got struct {
			Number *int64 `json:"number"`
		}
		wantJSON(t, resp, body, http.StatusOK, &got)
		if got.Number == nil || *got.Number != want {
			t.Fatalf("body %s, want number %d", body, want)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
		resp, body := f.do(t, m, "/get-number")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Errorf("%s: status %d Allow %q, want 405 and GET", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
		if m != http.MethodHead { // HEAD responses have no body
			wantError(t, resp, body, http.StatusMethodNotAllowed)
		}
	}
	if n := f.counter.n.Load(); n != 0 {
		t.Errorf("rejected methods took %d numbers", n)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, "/nope")
	wantError(t, resp, body, http.StatusNotFound)
}

func TestStoreFailureIs503WithRetryAfter(t *testing.T) {
	f := newFixture(t)
	f.counter.err = errors.New("database down")
	resp, body := f.do(t, http.MethodGet, "/get-number")
	wantError(t, resp, body, http.StatusServiceUnavailable)
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
}

func TestPanicIs500AndServerKeepsServing(t *testing.T) {
	f := newFixture(t)
	f.counter.panic = true
	resp, body := f.do(t, http.MethodGet, "/get-number")
	wantError(t, resp, body, http.StatusInternalServerError)
	f.counter.panic = false
	resp, body = f.do(t, http.MethodGet, "/get-number")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a panic: status %d %s", resp.StatusCode, body)
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, "/healthz")
	wantJSON(t, resp, body, http.StatusOK, &struct{}{})
	f.down.Store(true)
	resp, body = f.do(t, http.MethodGet, "/healthz")
	wantError(t, resp, body, http.StatusServiceUnavailable)
}

// TestShuttingDownClosesKeptConnections: once the process is stopping, every answer
// says Connection: close and the server closes the connection after it, so keep-alive
// clients move to another replica during SHUTDOWN_DELAY. Without it a client kept its
// connection until the listener closed and could lose a request it sent just then (a
// reset seen in a rolling update on the real node, issue 23).
func TestShuttingDownClosesKeptConnections(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(t, http.MethodGet, "/get-number")
	// resp.Close: the answer said Connection: close (the client strips the header itself).
	if resp.Close {
		t.Error("serving: the answer closes the connection, want it kept")
	}
	f.down.Store(true)
	for _, path := range []string{"/get-number", "/readyz", "/no-such-path"} {
		resp, _ := f.do(t, http.MethodGet, path)
		if !resp.Close {
			t.Errorf("shutting down, %s: the connection is kept, want Connection: close", path)
		}
	}
}

// /readyz answers the check's outcome and records it in counter_ready, 0 until the first.
func TestReadyz(t *testing.T) {
	f := newFixture(t)
	f.waitMetrics(t, []string{"counter_ready 0\n"}, nil)
	resp, body := f.do(t, http.MethodGet, "/readyz")
	wantJSON(t, resp, body, http.StatusOK, &struct{}{})
	f.waitMetrics(t, []string{"counter_ready 1\n"}, nil)
	notReady := errors.New("database unreachable")
	f.ready.Store(&notReady)
	resp, body = f.do(t, http.MethodGet, "/readyz")
	wantError(t, resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, notReady.Error()) {
		t.Errorf("readyz body %s does not say why", body)
	}
	f.waitMetrics(t, []string{"counter_ready 0\n"}, nil)
}

func TestMetricsExposed(t *testing.T) {
	f := newFixture(t)
	f.do(t, http.MethodGet, "/get-number")
	f.do(t, http.MethodGet, "/nope")
	_, body := f.do(t, http.MethodGet, "/metrics")
	for _, want := range []string{
		`counter_http_requests_total{code="200",route="/get-number"} 1`,
		`counter_http_requests_total{code="404",route="other"} 1`,
		"counter_http_request_duration_seconds_bucket",
		"counter_numbers_handed_out_total 1",
		"counter_batch_size",
		"counter_db_statement_duration_seconds",
		"counter_db_errors_total",
		"counter_numbers_abandoned_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// holdNumber sends GET /get-number over a raw connection and returns once the counter
// holds it: the connection, the request's context as net/http made it, and release, which
// lets the counter answer.
func (f *fixture) holdNumber(t *testing.T) (conn *net.TCPConn, reqCtx context.Context, release func()) {
	t.Helper()
	f.counter.entered = make(chan struct{})
	f.counter.release = make(chan struct{})
	c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /get-number HTTP/1.1\r\nHost: counter\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-f.counter.entered
	return c.(*net.TCPConn), <-f.reqCtx, func() { close(f.counter.release) }
}

// waitMetrics polls /metrics until it has every line in want and none in unwanted.
func (f *fixture) waitMetrics(t *testing.T, want, unwanted []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := f.do(t, http.MethodGet, "/metrics")
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(body, w) }) &&
			!slices.ContainsFunc(unwanted, func(w string) bool { return strings.Contains(body, w) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks one of %q or has one of %q:\n%s", want, unwanted, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that half-closes its side after the request (shutdown(SHUT_WR): socat, nc -N)
// is still reading: net/http ends the request's context at that EOF, but the number is
// written, with its JSON body, and counts as handed out.
func TestHalfClosedClientGetsItsNumber(t *testing.T) {
	f := newFixture(t)
	conn, reqCtx, release := f.holdNumber(t)
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	<-reqCtx.Done() // net/http saw the EOF: the case that used to lose the answer
	release()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Number int64 }
	wantJSON(t, resp, string(b), http.StatusOK, &got)
	if got.Number != 1 {
		t.Errorf("body %s, want number 1", b)
	}
	f.waitMetrics(t, []string{"counter_numbers_handed_out_total 1", "counter_numbers_abandoned_total 0",
		`counter_http_requests_total{code="200",route="/get-number"} 1`}, []string{`code="499"`})
}

// A client whose connection is reset before its answer costs its number (a gap, counted
// as abandoned, since the answer cannot be written) and is recorded as 499, whether the
// counter then succeeds or fails.
func TestGoneClient(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		abandoned string
	}{
		{"number committed", nil, "counter_numbers_abandoned_total 1"},
		{"counter failed", errors.New("database down"), "counter_numbers_abandoned_total 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.counter.err = c.err
			conn, reqCtx, release := f.holdNumber(t)
			if err := conn.SetLinger(0); err != nil { // close sends a reset
				t.Fatal(err)
			}
			conn.Close()
			<-reqCtx.Done() // net/http saw the reset
			release()
			f.waitMetrics(t, []string{c.abandoned, "counter_numbers_handed_out_total 0",
				`counter_http_requests_total{code="499",route="/get-number"} 1`},
				[]string{`code="503"`, `code="200",route="/get-number"`})
		})
	}
}

// Batch feeds the batch size, statement latency, error and last-number metrics; the last
// number never moves down, whatever order statements report in.
func TestMetricsBatch(t *testing.T) {
	m := NewMetrics()
	m.Batch(3, 12, 2*time.Millisecond, nil)
	m.Batch(1, 9, time.Millisecond, nil)
	m.Batch(5, 0, 29*time.Millisecond, errors.New("connection refused"))
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		"counter_batch_size_sum 4\n",
		"counter_batch_size_count 2\n",
		"counter_last_number 12\n",
		"counter_db_statement_duration_seconds_sum 0.032\n",
		"counter_db_statement_duration_seconds_count 3\n",
		`counter_db_statement_duration_seconds_bucket{le="0.002"} 2` + "\n",
		"counter_db_errors_total 1\n",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// appendNumberBody writes what json.Marshal of {"number": n} and a newline would, for every
// length of number.
func TestNumberBodyIsJSON(t *testing.T) {
	for _, n := range []int64{0, 1, 12345, 1<<63 - 1} {
		want, err := json.Marshal(struct {
			Number int64 `json:"number"`
		}{n})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendNumberBody(nil, n); string(got) != string(want)+"\n" {
			t.Errorf("appendNumberBody(nil, %d) = %q, want %q", n, got, string(want)+"\n")
		}
	}
}
